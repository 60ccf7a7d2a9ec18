"""Retries per outcome land inside the contact's calling window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import col, select

from orchestrator.lifecycle import finish_attempt, settle_unfinished
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Contact
from tests.scheduling.conftest import DepsFactory
from tests.support.factories import make_campaign, make_contact

NY = ZoneInfo("America/New_York")


async def test_a_retry_due_after_closing_moves_to_the_next_opening(
    db: Database, make_deps: DepsFactory
) -> None:
    campaign = await make_campaign(
        db, config={"retry": {"max_attempts": 3, "delay_secs": {"no_answer": 3600}}}
    )
    contact, attempt = await make_contact(
        db, campaign, timezone="America/New_York", attempt_state="no_answer", attempts_made=1
    )
    assert attempt is not None and attempt.id is not None
    deps = make_deps(datetime(2025, 3, 4, 19, 55, tzinfo=NY).astimezone(UTC))
    before = deps.now()
    await finish_attempt(deps, attempt.id)
    async with db.session() as s:
        retry = (await s.exec(select(Attempt).where(Attempt.seq == 2))).one()
        settled = await s.get(Contact, contact.id)
    # An hour later it is 20:55, after the 20:00 close: Wednesday 09:00 instead, 13h05 away.
    wait = retry.due_at - before
    assert timedelta(hours=13, minutes=4) < wait < timedelta(hours=13, minutes=6)
    assert settled is not None and settled.disposition == "pending"


async def test_a_retry_inside_the_window_keeps_its_delay(
    db: Database, make_deps: DepsFactory
) -> None:
    campaign = await make_campaign(
        db, config={"retry": {"max_attempts": 3, "delay_secs": {"busy": 900}}}
    )
    _, attempt = await make_contact(
        db, campaign, timezone="America/New_York", attempt_state="busy", attempts_made=1
    )
    assert attempt is not None and attempt.id is not None
    deps = make_deps(datetime(2025, 3, 4, 11, 0, tzinfo=NY).astimezone(UTC))
    before = deps.now()
    await finish_attempt(deps, attempt.id)
    await finish_attempt(deps, attempt.id)  # news of an end comes twice: one retry only
    async with db.session() as s:
        retries = (await s.exec(select(Attempt).where(Attempt.seq == 2))).all()
    assert len(retries) == 1
    wait = retries[0].due_at - before
    assert timedelta(minutes=14) < wait < timedelta(minutes=16)


async def test_no_retry_past_the_cap(db: Database, make_deps: DepsFactory) -> None:
    campaign = await make_campaign(
        db, config={"retry": {"max_attempts": 2, "delay_secs": {"no_answer": 60}}}
    )
    contact, attempt = await make_contact(db, campaign, attempt_state="no_answer", attempts_made=2)
    assert attempt is not None and attempt.id is not None
    await finish_attempt(make_deps(), attempt.id)
    async with db.session() as s:
        assert (await s.exec(select(Attempt).where(Attempt.seq == 2))).first() is None
        settled = await s.get(Contact, contact.id)
    assert settled is not None and settled.disposition == "unreachable"


async def test_an_end_whose_bookkeeping_was_cut_short_is_settled(
    db: Database, make_deps: DepsFactory
) -> None:
    campaign = await make_campaign(db)
    contact, attempt = await make_contact(
        db, campaign, attempt_state="completed", disposition="in_progress", attempts_made=1
    )
    assert attempt is not None and attempt.id is not None
    deps = make_deps()
    # Fresh ends are left to the worker processing them.
    assert await settle_unfinished(deps) == 0
    async with db.session() as s:
        await s.exec(
            update(Attempt)
            .where(col(Attempt.id) == attempt.id)
            .values(updated_at=deps.now() - timedelta(seconds=60))
        )
    assert await settle_unfinished(deps) == 1
    assert await settle_unfinished(deps) == 0
    async with db.session() as s:
        settled = await s.get(Contact, contact.id)
    assert settled is not None and settled.disposition == "reached"
