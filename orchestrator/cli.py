"""The `orchestrator` command line.

Every command builds the settings once and passes them down; errors become a one-line message
and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from orchestrator.errors import NotFound, OrchestratorError
from orchestrator.settings import Settings, load_settings

app = typer.Typer(
    help="Outbound calling for ElevenLabs voice agents: intake, scheduling, dialing, tracking, "
    "reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
contacts_app = typer.Typer(help="Contacts: import from CSV.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(contacts_app, name="contacts")
app.add_typer(db_app, name="db")

console = Console()
err = Console(stderr=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise _fail(f"invalid settings — {problems}", 2) from None


# ---- db -----------------------------------------------------------------------------------------
@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations to the configured database."""
    from orchestrator.store.migrate import upgrade

    settings = _settings()
    if settings.database_url.startswith("sqlite"):
        path = settings.database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(upgrade(settings.database_url, revision))
    except Exception as exc:
        raise _fail(f"migration failed: {exc}") from None
    console.print(f"database at revision {revision}")


# ---- intake -------------------------------------------------------------------------------------
@contacts_app.command("import")
def contacts_import(
    file: Annotated[Path, typer.Argument(help="CSV with external_id, phone_number, ...")],
    campaign: Annotated[str, typer.Option("--campaign", "-c", help="Campaign name")],
    rejects: Annotated[
        Path | None, typer.Option(help="Where to write refused rows (default: FILE.rejects.csv)")
    ] = None,
) -> None:
    """Import contacts; bad rows are reported (line, field, reason) and the rest imported."""
    from orchestrator.intake.csv_import import CsvHeaderError, import_csv
    from orchestrator.store.engine import Database

    if not file.is_file():
        raise _fail(f"no such file: {file}")
    settings = _settings()
    rejects_path = rejects or file.with_suffix(".rejects.csv")

    async def run() -> Any:
        db = Database(settings.database_url)
        try:
            with Progress(
                TextColumn("importing"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            ) as progress:
                task = progress.add_task("import", total=file.stat().st_size)
                return await import_csv(
                    db,
                    settings,
                    file,
                    campaign,
                    on_bytes=lambda n: progress.advance(task, n),
                    rejects_path=rejects_path,
                )
        finally:
            await db.dispose()

    try:
        summary = asyncio.run(run())
    except CsvHeaderError as exc:
        raise _fail(f"{file}: {exc}") from None
    except OrchestratorError as exc:
        raise _fail(str(exc)) from None
    table = Table(title=f"Import into {campaign!r}")
    for col in ("rows", "accepted", "updated", "unchanged", "rejected"):
        table.add_column(col, justify="right")
    table.add_row(
        *(
            str(getattr(summary, c))
            for c in ("rows", "accepted", "updated", "unchanged", "rejected")
        )
    )
    console.print(table)
    if summary.errors:
        shown = Table(title="Refused rows (first 20)")
        for col in ("line", "field", "reason"):
            shown.add_column(col)
        for e in summary.errors[:20]:
            shown.add_row(str(e.line), e.field, e.reason)
        console.print(shown)
        console.print(f"all refused rows: {summary.rejects_path}")
    if summary.imported == 0:
        raise _fail("nothing could be imported")


# ---- reports ------------------------------------------------------------------------------------
@app.command()
def report(
    campaign: str,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table",
) -> None:
    """Print a campaign's dispositions and totals."""
    from orchestrator.reports.campaign import campaign_report
    from orchestrator.reports.render import report_tables
    from orchestrator.store.engine import Database

    if format not in ("table", "json"):
        raise _fail(f"--format: expected table or json, got {format!r}", 2)
    settings = _settings()

    async def run() -> Any:
        db = Database(settings.database_url)
        try:
            return await campaign_report(db, campaign)
        finally:
            await db.dispose()

    try:
        result = asyncio.run(run())
    except NotFound as exc:
        raise _fail(str(exc)) from None
    if format == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        console.print(report_tables(result))


@app.command("dead-letters")
def dead_letters(limit: int = 50) -> None:
    """List payloads that could not be accepted, with the reason."""
    from sqlmodel import col, select

    from orchestrator.store.engine import Database
    from orchestrator.store.models import DeadLetter

    settings = _settings()

    async def run() -> list[DeadLetter]:
        db = Database(settings.database_url)
        try:
            async with db.session() as s:
                rows = await s.exec(
                    select(DeadLetter).order_by(col(DeadLetter.id).desc()).limit(limit)
                )
                return list(rows.all())
        finally:
            await db.dispose()

    rows = asyncio.run(run())
    table = Table(title=f"Dead letters ({len(rows)})")
    for name in ("id", "when", "source", "reason"):
        table.add_column(name)
    for row in rows:
        table.add_row(
            str(row.id), row.created_at.isoformat(timespec="seconds"), row.source, row.reason
        )
    console.print(table)


# ---- processes ----------------------------------------------------------------------------------
@app.command()
def web(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default $PORT or 8000)")] = None,
) -> None:
    """Serve the HTTP API, webhooks, health and metrics (uvicorn)."""
    import uvicorn

    from orchestrator.logs import configure_logging
    from orchestrator.web.app import create_app

    settings = _settings()
    configure_logging(settings)
    uvicorn.run(
        create_app(settings),
        host=host or settings.web_host,
        port=port or settings.web_port,
        log_level="warning",
        access_log=False,
    )


@app.command()
def worker() -> None:
    """Run the arq worker: dialing, webhook processing, dispatching, polling."""
    from jobs.worker import make_worker

    settings = _settings()
    make_worker(settings).run()


@app.command()
def sandbox(
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
        raise _fail(f"invalid sandbox settings: {exc}", 2) from None
    run(config)


@app.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    contacts: Annotated[Path | None, typer.Option(help="CSV instead of the bundled sample")] = None,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds")] = 180.0,
) -> None:
    """Run a whole campaign against the local sandbox: redis, sandbox, web, worker, report."""
    from orchestrator.demo import run_demo
    from orchestrator.devstack import StackError
    from orchestrator.reports.render import report_tables

    try:
        result = run_demo(console=None if as_json else console, contacts=contacts, timeout=timeout)
    except StackError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        raise _fail("interrupted; every process the demo started was stopped", 130) from None
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
        raise _fail(
            f"timed out: {result.report.contacts_final}/{result.report.contacts} contacts final"
        )


def main() -> None:
    """Console-script entry point."""
    app()
