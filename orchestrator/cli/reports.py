"""`orchestrator report`: what supervisors read."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated, Any

import typer

from orchestrator.cli.base import app, console, fail, settings
from orchestrator.errors import NotFound


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
        raise fail(f"--format: expected table or json, got {format!r}", 2)
    resolved = settings()

    async def run() -> Any:
        db = Database(resolved.database_url)
        try:
            return await campaign_report(db, campaign)
        finally:
            await db.dispose()

    try:
        result = asyncio.run(run())
    except NotFound as exc:
        raise fail(str(exc)) from None
    if format == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        console.print(report_tables(result))
