"""Long-running processes: web, worker, sandbox, demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from orchestrator.cli.base import app, console, fail, settings
from orchestrator.gc_tuning import tune_after_startup
from orchestrator.settings import Settings
from orchestrator.settings_errors import InvalidSettings, describe


@app.command()
def web(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default $PORT or 8000)", min=1, max=65535)
    ] = None,
) -> None:
    """Serve the HTTP API, webhooks, health and metrics (uvicorn)."""
    import uvicorn

    from orchestrator.logs import configure_logging
    from orchestrator.web.app import create_app

    resolved = settings()
    configure_logging(resolved)
    _check_signing(resolved)
    application = create_app(resolved, check_signing=False)
    tune_after_startup()
    uvicorn.run(
        application,
        host=host or resolved.web_host,
        port=port or resolved.web_port,
        log_level="warning",
        access_log=False,
    )


def _check_signing(resolved: Settings) -> None:
    """Refuse to serve (prod) or warn (elsewhere) when a campaign's CRM notifications can't be
    signed: here, before uvicorn, so a refusal is one line and not a lifespan traceback."""
    import asyncio

    from orchestrator.store.engine import Database
    from orchestrator.tracking.notify import UnsignedNotifications, check_signing

    async def check() -> None:
        db = Database(resolved.database_url)
        try:
            await check_signing(db, resolved)
        finally:
            await db.dispose()

    try:
        asyncio.run(check())
    except UnsignedNotifications as exc:
        raise fail(str(exc), 2) from None


@app.command()
def worker() -> None:
    """Run the arq worker: dialing, webhook processing, dispatching, polling."""
    # Settings first: a bad configuration is a one-line error, not an import-time traceback.
    resolved = settings()
    from jobs.worker import make_worker

    runner = make_worker(resolved)
    tune_after_startup()
    runner.run()


sandbox_app = typer.Typer(
    help="The local provider simulator; `sandbox inbound` plays inbound calls against the "
    "personalization webhook."
)
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.callback(invoke_without_command=True)
def sandbox(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="Port to serve on")] = None,
    webhook_url: Annotated[str | None, typer.Option(help="Where to post webhooks")] = None,
    webhook_secret: Annotated[str | None, typer.Option(help="HMAC secret for webhooks")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Workspace concurrency limit")] = None,
    time_scale: Annotated[
        float | None, typer.Option(help="Wall seconds per simulated second (0.02 = 50× faster)")
    ] = None,
    bursting: Annotated[bool | None, typer.Option(help="Allow burst up to min(3×, 300)")] = None,
) -> None:
    """Run the local provider simulator (every knob also by SANDBOX_* environment variables)."""
    if ctx.invoked_subcommand is not None:
        return  # a subcommand (`inbound`) runs instead of the server
    from orchestrator.providers.sandbox.config import SandboxConfig
    from orchestrator.providers.sandbox.server import run

    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "port": port,
            "webhook_url": webhook_url,
            "webhook_secret": webhook_secret,
            "concurrency": concurrency,
            "time_scale": time_scale,
            "bursting": bursting,
        }.items()
        if v is not None
    }
    try:
        config = SandboxConfig(**overrides)
    except ValidationError as exc:
        raise fail(f"invalid sandbox settings — {describe(exc)}", 2) from None
    run(config)


@app.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    contacts: Annotated[Path | None, typer.Option(help="CSV instead of the bundled sample")] = None,
    timeout: Annotated[
        float, typer.Option(help="Give up after this many seconds", min=1, max=86400)
    ] = 180.0,
) -> None:
    """Run a whole campaign against the local sandbox: redis, sandbox, web, worker, report."""
    from orchestrator.demo import run_demo
    from orchestrator.devstack import StackError
    from orchestrator.reports.render import report_tables

    try:
        result = run_demo(console=None if as_json else console, contacts=contacts, timeout=timeout)
    except (StackError, InvalidSettings) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; every process the demo started was stopped", 130) from None
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        console.print(report_tables(result.report))
        check = result.dial_check
        console.print(
            f"sandbox dial log: {check['dials']} dials, {check['distinct_attempts_dialled']} "
            f"distinct attempts, {check['duplicate_dials']} duplicate dials; "
            f"finished in {result.seconds:.1f} s"
        )
    if not result.report.all_final:
        raise fail(
            f"timed out: {result.report.contacts_final}/{result.report.contacts} contacts final"
        )
