"""Long-running processes: web, worker, sandbox, demo."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestrator.cli.base import app, fail, settings
from orchestrator.gc_tuning import tune_after_startup
from orchestrator.settings import Settings


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

    from orchestrator.errors import UnsignedNotifications
    from orchestrator.lifecycle.notify import check_signing
    from orchestrator.store.engine import Database

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
