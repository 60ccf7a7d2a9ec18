"""Operator commands: dead letters, webhook events no attempt claims."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.table import Table

from orchestrator.cli.base import app, console, settings

#: Rows to list: a negative LIMIT means "no limit" to SQLite, so the range is checked here.
Limit = Annotated[int, typer.Option(help="Rows to list (newest first)", min=1, max=100_000)]


@app.command("dead-letters")
def dead_letters(limit: Limit = 50) -> None:
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


@app.command("unmatched-events")
def unmatched_events(limit: Limit = 50) -> None:
    """List stored webhook events whose conversation no attempt has (newest first).

    They are applied by themselves if an attempt gets that conversation later (the dialer's
    commit, or the reconciler adopting the call); the rest are calls we did not place.
    """
    from sqlalchemy import select
    from sqlmodel import col

    from orchestrator.store.engine import Database
    from orchestrator.store.models import WebhookEvent

    resolved = settings()

    async def run() -> list[Any]:
        db = Database(resolved.database_url)
        try:
            async with db.read() as s:
                query: Any = (
                    select(
                        col(WebhookEvent.id),
                        col(WebhookEvent.received_at),
                        col(WebhookEvent.event_type),
                        col(WebhookEvent.conversation_id),
                        col(WebhookEvent.call_sid),
                    )
                    .where(col(WebhookEvent.status) == "unmatched")
                    .order_by(col(WebhookEvent.id).desc())
                    .limit(limit)
                )
                return list((await s.exec(query)).all())
        finally:
            await db.dispose()

    rows = asyncio.run(run())
    table = Table(title=f"Unmatched webhook events ({len(rows)})")
    for name in ("id", "received", "type", "conversation", "call sid"):
        table.add_column(name)
    for ident, received, kind, conversation, sid in rows:
        when = received.isoformat(timespec="seconds") if hasattr(received, "isoformat") else ""
        table.add_row(str(ident), when, kind, conversation or "", sid or "")
    console.print(table)
