"""Parked records: `parked` lists them with the reason, `parked requeue` puts them back.

An attempt (or a stored webhook event) that failed the same way `ORCH_PARK_AFTER_FAILURES`
times is parked instead of retried forever (`orchestrator/lifecycle/parking.py`). Fix the cause
(the contact's data, the configuration), then re-queue it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from orchestrator.cli.base import app, console, fail, settings
from orchestrator.store.engine import Database

T = TypeVar("T")

parked_app = typer.Typer(
    help="Attempts and webhook events parked after failing the same way again and again: list "
    "them (the default), re-queue them once the cause is fixed.",
    invoke_without_command=True,
)
app.add_typer(parked_app, name="parked")


def _with_db(work: Callable[[Database], Awaitable[T]]) -> T:
    resolved = settings()

    async def run() -> T:
        db = Database(resolved.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


@parked_app.callback()
def parked(ctx: typer.Context, limit: int = 100) -> None:
    """List parked attempts and webhook events with the reason (most recent first)."""
    if ctx.invoked_subcommand is not None:
        return
    from orchestrator.lifecycle.parking import (
        ParkedAttempt,
        ParkedEvent,
        list_parked,
        list_parked_events,
    )

    async def read(db: Database) -> tuple[list[ParkedAttempt], list[ParkedEvent]]:
        return await list_parked(db, limit=limit), await list_parked_events(db, limit=limit)

    attempts, events = _with_db(read)
    table = Table(title=f"Parked attempts ({len(attempts)})", title_justify="left")
    for name in ("attempt", "campaign", "contact", "number", "failures", "since", "reason"):
        table.add_column(name)
    for a in attempts:
        table.add_row(
            str(a.attempt_id),
            a.campaign,
            a.external_id,
            a.phone_number,
            str(a.failures),
            a.parked_at.isoformat(timespec="seconds"),
            a.reason or "",
        )
    console.print(table)
    if events:
        listed = Table(title=f"Parked webhook events ({len(events)})", title_justify="left")
        for name in ("event", "type", "conversation", "failures", "reason"):
            listed.add_column(name)
        for e in events:
            listed.add_row(
                str(e.event_id), e.event_type, e.conversation_id or "", str(e.failures),
                e.reason or "",
            )  # fmt: skip
        console.print(listed)
    if attempts or events:
        console.print(
            "Fix the cause, then: orchestrator parked requeue ATTEMPT_ID... "
            "(or --event EVENT_ID...)"
        )


@parked_app.command()
def requeue(
    ids: Annotated[list[int], typer.Argument(help="Parked attempt ids (event ids with --event)")],
    event: Annotated[bool, typer.Option("--event", help="The ids are webhook event ids")] = False,
) -> None:
    """Put parked attempts back in the dial loop, due now (or parked events to be processed)."""
    from orchestrator.lifecycle.parking import requeue as requeue_attempt
    from orchestrator.lifecycle.parking import requeue_event

    one = requeue_event if event else requeue_attempt

    async def run(db: Database) -> list[int]:
        return [i for i in ids if not await one(db, i)]

    missed = _with_db(run)
    done = len(ids) - len(missed)
    what = "webhook event" if event else "attempt"
    console.print(f"{done} {what}(s) re-queued")
    if missed:
        raise fail(f"not parked: {', '.join(map(str, missed))}")
