"""One campaign the dispatcher cannot handle never stops the others from being dispatched; its
due attempts are parked with the reason instead of being skipped silently forever."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col, select

from orchestrator.scheduling.dispatcher import dispatch_once
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Campaign, Contact
from tests.scheduling.conftest import DepsFactory
from tests.support.factories import make_campaign, make_contact


async def _plant(db: Database) -> tuple[int, int, int]:
    """A campaign whose stored policy no longer validates, and a good one; one attempt each."""
    broken = await make_campaign(db, "broken")
    good = await make_campaign(db, "good")
    contact, stuck = await make_contact(db, broken, "crm-1", timezone="America/New_York")
    _, fine = await make_contact(db, good, "crm-2", "+14155550124", timezone="America/New_York")
    assert stuck and fine and stuck.id and fine.id and contact.id
    # Stored behind the API's back (old data, a policy rule made stricter since).
    async with db.session() as s:
        await s.exec(
            update(Campaign)
            .where(col(Campaign.id) == broken.id)
            .values(config={"calling_hours": {"start": "25:00"}})
        )
    return stuck.id, fine.id, contact.id


async def _states(db: Database) -> dict[int, Attempt]:
    async with db.session() as s:
        return {a.id or 0: a for a in (await s.exec(select(Attempt))).all()}


async def test_a_campaign_whose_stored_policy_no_longer_validates_stalls_nobody(
    db: Database, make_deps: DepsFactory
) -> None:
    stuck, fine, _ = await _plant(db)
    deps = make_deps()
    assert await dispatch_once(deps) == 1
    rows = await _states(db)
    assert (rows[fine].state, rows[stuck].state) == ("queued", "scheduled")


async def test_its_due_attempts_are_parked_with_the_reason(
    db: Database, make_deps: DepsFactory
) -> None:
    from orchestrator.scheduling.unusable import park_unusable

    stuck, _, contact_id = await _plant(db)
    deps = make_deps(park_after_failures=3, park_retry_secs=0.0)
    assert [await park_unusable(deps) for _ in range(4)] == [1, 1, 1, 0]
    rows = await _states(db)
    assert rows[stuck].state == "parked"
    assert "calling_hours.start" in (rows[stuck].error or "")
    async with db.session() as s:
        contact = await s.get(Contact, contact_id)
    assert contact is not None and contact.disposition == "parked"
