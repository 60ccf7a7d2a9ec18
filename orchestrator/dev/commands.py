"""The dev kit's commands: `demo`, `sandbox` and `sandbox inbound`.

They are user-facing (a newcomer's first command is `make demo`), so they ship with the CLI, but
they live here, beside what they run: the product's own commands never import the dev kit, and
`orchestrator.main` is the one place the two meet.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlmodel import col, select

from orchestrator.cli.base import app, console, fail, settings
from orchestrator.errors import InvalidSettings
from orchestrator.settings import Settings
from orchestrator.settings_errors import describe

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
    from orchestrator.dev.sandbox.config import SandboxConfig
    from orchestrator.dev.sandbox.server import run

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


async def _callers(resolved: Settings, agent_id: str, limit: int = 1000) -> list[str]:
    """Numbers of contacts of the agent's campaigns (the known callers to play)."""
    from orchestrator.store.engine import Database
    from orchestrator.store.models import Campaign, Contact

    db = Database(resolved.database_url)
    try:
        async with db.read() as s:
            rows = await s.exec(
                select(Contact.phone_number)
                .join(Campaign, col(Campaign.id) == col(Contact.campaign_id))
                .where(col(Campaign.agent_id) == agent_id)
                .distinct()
                .limit(limit)
            )
            return list(rows.all())
    except Exception:
        return []  # no database: every caller is a stranger
    finally:
        await db.dispose()


@sandbox_app.command()
def inbound(
    rate: Annotated[
        float, typer.Option(help="Inbound calls per second", min=0.1, max=10_000)
    ] = 10.0,
    duration: Annotated[
        float, typer.Option(help="Seconds to play calls for", min=0.1, max=86400)
    ] = 10.0,
    url: Annotated[str | None, typer.Option(help="The webhook (default: the public URL's)")] = None,
    agent: Annotated[str | None, typer.Option(help="Agent called (default: the default)")] = None,
    called_number: Annotated[str, typer.Option(help="Our number being called")] = "+14155550100",
    unknown_share: Annotated[
        float, typer.Option(help="Share of callers who are not contacts", min=0.0, max=1.0)
    ] = 0.1,
    timeout: Annotated[
        float, typer.Option(help="Seconds the provider waits", min=0.1, max=600)
    ] = 10.0,
) -> None:
    """Play inbound calls against the personalization webhook; print latency and failures."""
    from orchestrator.dev.player import play
    from orchestrator.personalization.request import accepted_secrets
    from orchestrator.web.routes.personalization import PATH

    resolved = settings()
    agent_id = agent or resolved.agent_id
    target = url or resolved.public_url.rstrip("/") + PATH
    secrets = accepted_secrets(resolved)
    headers = {resolved.personalization_header: secrets[0].decode()} if secrets else {}
    callers = asyncio.run(_callers(resolved, agent_id))
    declared = list(resolved.agent(agent_id).variables)
    console.print(
        f"playing {rate:g} calls/s for {duration:g} s against {target} "
        f"({len(callers)} known callers, {unknown_share:.0%} strangers)"
    )
    result = asyncio.run(
        play(
            target,
            agent_id=agent_id,
            called_number=called_number,
            callers=callers,
            declared=declared,
            headers=headers,
            rate=rate,
            duration=duration,
            unknown_share=unknown_share,
            timeout=timeout,
        )
    )
    console.print(
        f"{result.calls} calls in {result.elapsed:.1f} s: latency p50 {result.percentile(50):.1f} "
        f"ms, p95 {result.percentile(95):.1f} ms, p99 {result.percentile(99):.1f} ms; "
        f"errors {result.errors}, shape failures {result.shape_failures}"
    )
    for example in result.examples:
        console.print(f"  {example}")
    if result.errors or result.shape_failures:
        raise fail(f"{result.errors + result.shape_failures} calls would not have started")


@app.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    contacts: Annotated[Path | None, typer.Option(help="CSV instead of the bundled sample")] = None,
    timeout: Annotated[
        float, typer.Option(help="Give up after this many seconds", min=1, max=86400)
    ] = 180.0,
) -> None:
    """Run a whole campaign against the local sandbox: redis, sandbox, web, worker, report."""
    from orchestrator.dev.demo import run_demo
    from orchestrator.dev.stack import StackError
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
