"""The dialer's rules: closed windows hand back, burst is recorded, opt-outs stop queued dials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from orchestrator.dialing import dial
from orchestrator.dialing.dial import DialResultKind, dial_attempt
from orchestrator.lifecycle import add_do_not_call
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Contact
from tests.dialing.conftest import StackFactory, sandbox_dials, sandbox_summary
from tests.dialing.test_dial import LONG_CALLS
from tests.support.factories import make_campaign, make_contact

NY = ZoneInfo("America/New_York")


async def row(db: Database, attempt_id: int) -> Attempt:
    async with db.session() as s:
        found = await s.get(Attempt, attempt_id)
        assert found is not None
        return found


async def test_closed_window_hands_back_to_the_opening(db: Database, stack: StackFactory) -> None:
    campaign = await make_campaign(db)
    _, attempt = await make_contact(
        db, campaign, timezone="America/New_York", attempt_state="queued"
    )
    assert attempt is not None and attempt.id is not None
    night = datetime(2025, 3, 4, 22, 30, tzinfo=NY)
    async with stack(settings_update={"clock_start": night}) as (deps, sb):
        before = deps.now()
        assert await dial_attempt(deps, attempt.id) is DialResultKind.REQUEUED
        dials = await sandbox_dials(sb)
    found = await row(db, attempt.id)
    assert dials == []
    assert found.state == "scheduled"
    # 22:30 → next morning 09:00: ten and a half hours of calendar (and real) time.
    wait = found.due_at - before
    assert timedelta(hours=10, minutes=29) < wait < timedelta(hours=10, minutes=31)


async def test_local_hour_of_the_dial_is_recorded(db: Database, stack: StackFactory) -> None:
    campaign = await make_campaign(db)
    _, attempt = await make_contact(
        db, campaign, timezone="America/New_York", attempt_state="queued"
    )
    assert attempt is not None and attempt.id is not None
    morning = datetime(2025, 3, 4, 10, 15, tzinfo=NY).astimezone(UTC)
    async with stack(settings_update={"clock_start": morning}) as (deps, _sb):
        assert await dial_attempt(deps, attempt.id) is DialResultKind.INITIATED
    assert (await row(db, attempt.id)).local_hour == 10


async def test_burst_calls_are_marked_as_such(db: Database, stack: StackFactory) -> None:
    campaign = await make_campaign(db, config={"burst": {"mode": "on"}})
    ids = []
    for i in range(3):
        _, attempt = await make_contact(
            db, campaign, f"c{i}", f"+1212736000{i}", attempt_state="queued"
        )
        assert attempt is not None and attempt.id is not None
        ids.append(attempt.id)
    # Plan limit 2 (burst up to 6), the provider bursting too: the third call bursts.
    async with stack(
        concurrency=2, bursting=True, settings_update={"concurrency_limit": 2}, **LONG_CALLS
    ) as (deps, sb):
        for attempt_id in ids:
            assert await dial_attempt(deps, attempt_id) is DialResultKind.INITIATED
        dials = await sandbox_dials(sb)
    flags = [(await row(db, i)).is_burst for i in ids]
    assert flags == [False, False, True]
    assert [d["is_burst"] for d in dials] == [False, False, True]


async def test_without_burst_the_limit_holds(
    db: Database, stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = await make_campaign(db)
    ids = []
    for i in range(3):
        _, attempt = await make_contact(
            db, campaign, f"c{i}", f"+1212736000{i}", attempt_state="queued"
        )
        assert attempt is not None and attempt.id is not None
        ids.append(attempt.id)
    async with stack(
        concurrency=2,
        bursting=True,
        settings_update={"concurrency_limit": 2},
        **LONG_CALLS,
    ) as (deps, sb):
        # The dialer waits for a slot before handing back; cut the wait short.
        monkeypatch.setattr(dial, "SLOT_WAIT_SECS", 0.2)
        results = [await dial_attempt(deps, attempt_id) for attempt_id in ids]
        summary = await sandbox_summary(sb)
    assert results == [DialResultKind.INITIATED, DialResultKind.INITIATED, DialResultKind.REQUEUED]
    assert summary["dials"] == 2 and summary["burst_dials"] == 0


async def test_an_opt_out_cancels_queued_attempts_of_the_number_everywhere(
    db: Database, stack: StackFactory
) -> None:
    first = await make_campaign(db, "first")
    second = await make_campaign(db, "second")
    _, queued = await make_contact(db, first, "a", "+12127360001", attempt_state="queued")
    _, later = await make_contact(db, second, "a", "+12127360001")
    assert queued and later and queued.id and later.id
    async with db.session() as s:
        assert await add_do_not_call(s, "+12127360001", "asked during a call") == 2
    async with stack() as (deps, sb):
        # The job was already in Redis: it finds the attempt canceled and dials nobody.
        assert await dial_attempt(deps, queued.id) is DialResultKind.SKIPPED
        dials = await sandbox_dials(sb)
    assert dials == []
    assert {(await row(db, i)).state for i in (queued.id, later.id)} == {"canceled"}
    async with db.session() as s:
        dispositions = set((await s.exec(select(Contact.disposition))).all())
    assert dispositions == {"do_not_call"}
