"""The gate before a dial: cancel, wait (until when), or go (until when)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from orchestrator.deps import Deps
from orchestrator.domain.campaign_policy import policy_of
from orchestrator.domain.windows.rules import LegalBounds, LegalRule
from orchestrator.rules.gate import admit
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Campaign, Contact, DoNotCall
from tests.scheduling.conftest import TUESDAY_MIDDAY, TUESDAY_NIGHT, DepsFactory
from tests.support.factories import make_campaign, make_contact

NY = ZoneInfo("America/New_York")
MIAMI = "+13055550123"


async def gate_for(
    deps: Deps, db: Database, campaign: Campaign, phone: str = "+12127360001", **contact: Any
) -> Any:
    row, attempt = await make_contact(db, campaign, external_id=phone, phone=phone, **contact)
    assert attempt is not None
    return await admit(
        deps, attempt, row, campaign, policy_of(campaign.config), deps.calendar.now()
    )


async def test_open_window_goes_until_it_closes(db: Database, make_deps: DepsFactory) -> None:
    deps = make_deps(TUESDAY_MIDDAY)
    gate = await gate_for(deps, db, await make_campaign(db))
    assert gate.ok
    assert gate.closes_at == datetime(2025, 3, 4, 20, tzinfo=NY).astimezone(UTC)


async def test_closed_window_waits_for_the_opening(db: Database, make_deps: DepsFactory) -> None:
    deps = make_deps(TUESDAY_NIGHT)
    gate = await gate_for(deps, db, await make_campaign(db))
    assert not gate.ok and gate.cancel_reason is None
    assert gate.not_before == datetime(2025, 3, 5, 9, tzinfo=NY).astimezone(UTC)


async def test_explicit_zone_wins_over_the_numbers(db: Database, make_deps: DepsFactory) -> None:
    # A New York number whose owner lives in Sydney: 06:00 there at Tuesday 19:00 UTC.
    deps = make_deps(TUESDAY_MIDDAY)
    gate = await gate_for(deps, db, await make_campaign(db), timezone="Australia/Sydney")
    assert not gate.ok and gate.not_before is not None


async def test_do_not_call_cancels(db: Database, make_deps: DepsFactory) -> None:
    deps = make_deps()
    async with db.session() as s:
        s.add(DoNotCall(phone_number="+12127360001", reason="asked"))
    gate = await gate_for(deps, db, await make_campaign(db))
    assert gate.cancel_reason == "number on the do-not-call list"


async def test_paused_waits_and_canceled_cancels(db: Database, make_deps: DepsFactory) -> None:
    deps = make_deps()
    paused = await gate_for(deps, db, await make_campaign(db, "p", status="paused"))
    assert not paused.ok and paused.cancel_reason is None and paused.not_before is not None
    canceled = await gate_for(
        deps, db, await make_campaign(db, "c", status="canceled"), phone="+12127360002"
    )
    assert canceled.cancel_reason == "campaign canceled"


async def test_not_enforcing_campaign_hours_still_applies_legal_hours(
    db: Database, make_deps: DepsFactory
) -> None:
    config = {"calling_hours": {"start": "09:00", "end": "10:00"}, "enforce_calling_hours": False}
    campaign = await make_campaign(db, config=config)
    # 20:30 in New York: outside the campaign's hours (ignored) but inside 08:00–21:00.
    at = datetime(2025, 3, 4, 20, 30, tzinfo=NY).astimezone(UTC)
    assert (await gate_for(make_deps(at), db, campaign)).ok
    at = datetime(2025, 3, 4, 21, 30, tzinfo=NY).astimezone(UTC)
    late = await gate_for(make_deps(at), db, campaign, phone="+12127360002")
    assert late.not_before == datetime(2025, 3, 5, 8, tzinfo=NY).astimezone(UTC)


async def test_regional_hours_and_attempt_cap(db: Database, make_deps: DepsFactory) -> None:
    legal = LegalBounds(rules=[LegalRule(region="US-FL", end=time(20), max_attempts_per_24h=2)])
    # 19:30 in Miami: inside the campaign's 09:00–20:00 and Florida's 08:00–20:00.
    at = datetime(2025, 3, 4, 19, 30, tzinfo=NY).astimezone(UTC)
    deps = make_deps(at, legal=legal)
    campaign = await make_campaign(db)
    contact, _ = await make_contact(db, campaign, "fl", MIAMI, attempt_state=None)
    assert contact.id is not None and campaign.id is not None
    started = [deps.now() - timedelta(hours=h) for h in (20, 3)]
    async with db.session() as s:
        for i, when in enumerate(started):
            s.add(
                Attempt(
                    campaign_id=campaign.id,
                    contact_id=contact.id,
                    seq=i + 1,
                    phone_number=MIAMI,
                    state="no_answer",
                    dial_started_at=when,
                )
            )
        attempt = Attempt(campaign_id=campaign.id, contact_id=contact.id, seq=3, phone_number=MIAMI)
        s.add(attempt)
    async with db.session() as s:
        row = await s.get(Contact, contact.id)
    assert row is not None
    gate = await admit(deps, attempt, row, campaign, policy_of(None), deps.calendar.now())
    assert not gate.ok
    # Two dials in the last 24 h: the next is allowed 24 h after the older one.
    expected = deps.calendar.at(started[0].timestamp()) + timedelta(hours=24)
    assert gate.not_before is not None
    assert abs((gate.not_before - expected).total_seconds()) < 1


async def test_regional_hours_are_stricter_than_the_campaigns(
    db: Database, make_deps: DepsFactory
) -> None:
    legal = LegalBounds(rules=[LegalRule(region="US-FL", end=time(19))])
    at = datetime(2025, 3, 4, 19, 30, tzinfo=NY).astimezone(UTC)
    campaign = await make_campaign(db)
    miami = await gate_for(make_deps(at, legal=legal), db, campaign, phone=MIAMI)
    assert miami.not_before == datetime(2025, 3, 5, 9, tzinfo=NY).astimezone(UTC)
    new_york = await gate_for(make_deps(at, legal=legal), db, campaign)
    assert new_york.ok
