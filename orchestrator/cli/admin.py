"""Operator commands: dead letters."""

from __future__ import annotations

import asyncio

from rich.table import Table

from orchestrator.cli.base import app, console, settings


@app.command("dead-letters")
def dead_letters(limit: int = 50) -> None:
    """List payloads that could not be accepted, with the reason."""
    from sqlmodel import col, select

    from orchestrator.store.engine import Database
    from orchestrator.store.models import DeadLetter

    resolved = settings()

    async def run() -> list[DeadLetter]:
        db = Database(resolved.database_url)
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
