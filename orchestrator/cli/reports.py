"""`orchestrator report`: what supervisors read, in a terminal or as files."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.cli.base import app, console, fail, settings
from orchestrator.errors import NotFound, ValidationFailed

FORMATS = ("table", "json", "csv", "html")


def _render(result: Any, format: str) -> str:
    from orchestrator.reports.export import report_csv
    from orchestrator.reports.html import report_document

    if format == "json":
        return json.dumps(result.to_dict(), indent=2) + "\n"
    if format == "csv":
        return report_csv(result)
    return report_document(result)


@app.command()
def report(
    campaign: Annotated[
        str | None, typer.Argument(help="Campaign name; omit for every campaign")
    ] = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help="table, json, csv or html")
    ] = "table",
    since: Annotated[
        str | None, typer.Option(help="Only calls dialled from this ISO date or date-time (UTC)")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="…up to this ISO date (inclusive) or date-time")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file")] = None,
    contacts: Annotated[
        bool, typer.Option("--contacts", help="Export the campaign's contacts as CSV (for the CRM)")
    ] = False,
) -> None:
    """Print a report: dispositions, rates, durations, cost, data collected, hours, utilization."""
    from orchestrator.errors import PricingError
    from orchestrator.reports.build import ReportConfig, build_report
    from orchestrator.reports.export import contacts_csv
    from orchestrator.reports.render import report_tables
    from orchestrator.reports.scope import make_scope
    from orchestrator.store.engine import Database

    if format not in FORMATS:
        raise fail(f"--format: expected one of {', '.join(FORMATS)}, got {format!r}", 2)
    if contacts and not campaign:
        raise fail("--contacts: name the campaign to export", 2)
    try:
        scope = make_scope(campaign, since, until)
    except ValidationFailed as exc:
        raise fail(f"--{exc.problems[0][0]}: {exc.problems[0][1]}", 2) from None
    resolved = settings()

    async def run() -> Any:
        db = Database(resolved.database_url)
        try:
            if contacts:
                assert campaign is not None
                return "".join([chunk async for chunk in await contacts_csv(db, campaign)])
            return await build_report(db, scope, ReportConfig.from_settings(resolved))
        finally:
            await db.dispose()

    try:
        result = asyncio.run(run())
    except (NotFound, PricingError) as exc:
        raise fail(str(exc)) from None
    if format == "table" and not contacts:
        if out is not None:
            raise fail("--out: write html, csv or json to a file; tables are for the terminal", 2)
        console.print(report_tables(result))
        return
    text = result if contacts else _render(result, format)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")
