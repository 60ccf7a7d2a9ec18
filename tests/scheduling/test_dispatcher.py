"""The dispatcher: only open windows are claimed, closed ones move to their opening, fair shares."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select

from orchestrator import keys
from orchestrator.limiter.scopes import scopes_for
from orchestrator.scheduling.capacity import headroom
from orchestrator.scheduling.dispatcher import dispatch_once, requeue_stale
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Contact
from tests.scheduling.conftest import TUESDAY_MIDDAY, TUESDAY_NIGHT, DepsFactory, RecordingQueue
from tests.support.factories import make_campaign, make_contact


async def attempts(db: Database) -> dict[int, Attempt]:
    async with db.session() as s:
        return {a.id or 0: a for a in (await s.exec(select(Attempt))).all()}


async def test_open_window_is_claimed_with_a_claim_scoped_job_id(
    db: Database, make_deps: DepsFactory
) -> None:
    campaign = await make_campaign(db)
    _, attempt = await make_contact(db, campaign, timezone="America/New_York")
    assert attempt is not None and attempt.id is not None
    deps = make_deps(TUESDAY_MIDDAY)
    assert await dispatch_once(deps) == 1
    row = (await attempts(db))[attempt.id]
    assert row.state == "queued"
    queue = deps.queue
    assert isinstance(queue, RecordingQueue)
    [(name, args, job_id)] = queue.jobs
    assert (name, args) == (keys.JOB_DIAL, (attempt.id,))
    assert job_id.startswith(f"dial:{attempt.id}:")


async def test_closed_window_is_not_claimed_but_moved_to_its_opening(
    db: Database, make_deps: DepsFactory
) -> None:
    campaign = await make_campaign(db)
    _, attempt = await make_contact(db, campaign, timezone="America/New_York")
    assert attempt is not None and attempt.id is not None
    deps = make_deps(TUESDAY_NIGHT)  # 23:00 in New York
    before = deps.now()
    assert await dispatch_once(deps) == 0
    row = (await attempts(db))[attempt.id]
    assert row.state == "scheduled"
    # Opens Wednesday 09:00 New York = 14:00 UTC, ten calendar hours after 04:00 UTC.
    moved_by = row.due_at - before
    assert timedelta(hours=9, minutes=59) < moved_by < timedelta(hours=10, minutes=1)
    # Not due any more: the next pass does not even look at it.
    assert await dispatch_once(deps) == 0
    assert isinstance(deps.queue, RecordingQueue) and deps.queue.jobs == []


async def test_a_window_that_never_opens_cancels_with_the_reason(
    db: Database, make_deps: DepsFactory
) -> None:
    campaign = await make_campaign(db, config={"end_date": "2025-03-01"})
    contact, attempt = await make_contact(db, campaign, timezone="America/New_York")
    assert attempt is not None and attempt.id is not None
    deps = make_deps(TUESDAY_MIDDAY)
    assert await dispatch_once(deps) == 0
    row = (await attempts(db))[attempt.id]
    assert row.state == "canceled"
    assert row.error is not None and "never opens" in row.error
    async with db.session() as s:
        settled = await s.get(Contact, contact.id)
    assert settled is not None and settled.disposition == "canceled"


async def test_zone_from_the_number_when_the_contact_has_none(
    db: Database, make_deps: DepsFactory
) -> None:
    campaign = await make_campaign(db)
    # +1 415: San Francisco. Tuesday 19:00 UTC is 11:00 there.
    _, open_one = await make_contact(db, campaign, "a", "+14155550101")
    # +44 20: London. Tuesday 19:00 UTC is 19:00 there, inside 09:00–20:00 too; 21:00 is not.
    _, late_one = await make_contact(db, campaign, "b", "+442079460000")
    assert open_one and late_one
    deps = make_deps(TUESDAY_MIDDAY + timedelta(hours=2))
    assert await dispatch_once(deps) == 1
    rows = await attempts(db)
    assert rows[open_one.id or 0].state == "queued"
    assert rows[late_one.id or 0].state == "scheduled"


async def test_paused_campaigns_are_not_dispatched(db: Database, make_deps: DepsFactory) -> None:
    campaign = await make_campaign(db, status="paused")
    await make_contact(db, campaign, timezone="America/New_York")
    assert await dispatch_once(make_deps()) == 0


async def test_redis_holds_only_the_free_capacity_plus_the_headroom(
    db: Database, make_deps: DepsFactory
) -> None:
    campaign = await make_campaign(db)
    for i in range(40):
        await make_contact(db, campaign, f"c{i}", f"+1212736{i:04d}", timezone="America/New_York")
    deps = make_deps(concurrency_limit=5, dispatch_batch=500)
    expected = 5 + headroom(deps.settings)
    assert await dispatch_once(deps) == expected
    # Nothing ran, so there is no more room.
    assert await dispatch_once(deps) == 0
    states = [a.state for a in (await attempts(db)).values()]
    assert states.count("queued") == expected


async def test_shares_follow_campaign_weights(db: Database, make_deps: DepsFactory) -> None:
    heavy = await make_campaign(db, "heavy", weight=3)
    light = await make_campaign(db, "light", weight=1)
    for i in range(60):
        await make_contact(db, heavy, f"h{i}", f"+1212736{i:04d}", timezone="America/New_York")
        await make_contact(db, light, f"l{i}", f"+1212737{i:04d}", timezone="America/New_York")
    deps = make_deps(dispatch_batch=4)
    claimed = {heavy.id: 0, light.id: 0}
    for _ in range(10):
        assert await dispatch_once(deps) == 4
        # Every claimed attempt runs and ends at once, so each pass has the same room.
        async with db.session() as s:
            done = (
                await s.exec(select(Attempt.campaign_id).where(Attempt.state == "queued"))
            ).all()
            await s.exec(
                update(Attempt).where(col(Attempt.state) == "queued").values(state="completed")
            )
        for campaign_id in done:
            claimed[campaign_id] += 1
    assert claimed == {heavy.id: 30, light.id: 10}


async def test_a_campaign_with_little_due_leaves_its_share_to_others(
    db: Database, make_deps: DepsFactory
) -> None:
    heavy = await make_campaign(db, "heavy", weight=5)
    light = await make_campaign(db, "light", weight=1)
    for i in range(2):
        await make_contact(db, heavy, f"h{i}", f"+1212736{i:04d}", timezone="America/New_York")
    for i in range(20):
        await make_contact(db, light, f"l{i}", f"+1212737{i:04d}", timezone="America/New_York")
    deps = make_deps(dispatch_batch=12)
    assert await dispatch_once(deps) == 12
    async with db.session() as s:
        queued = (await s.exec(select(Attempt.campaign_id).where(Attempt.state == "queued"))).all()
    assert queued.count(heavy.id) == 2
    assert queued.count(light.id) == 10


async def test_stale_queued_attempts_go_back_with_their_slots_freed(
    db: Database, make_deps: DepsFactory
) -> None:
    campaign = await make_campaign(db)
    _, attempt = await make_contact(db, campaign, attempt_state="queued")
    assert attempt is not None and attempt.id is not None
    deps = make_deps(stale_queued_secs=30)
    async with db.session() as s:
        await s.exec(
            update(Attempt)
            .where(col(Attempt.id) == attempt.id)
            .values(queued_at=deps.now() - timedelta(seconds=31))
        )
    scopes = scopes_for(deps.settings, campaign, attempt.phone_number)
    got = await deps.limiter.acquire(
        attempt.id, scopes.account, scopes.others, account_cap=10, now=deps.clock(), lease_secs=60
    )
    assert got.ok
    assert await requeue_stale(deps) == 1
    assert (await attempts(db))[attempt.id].state == "scheduled"
    assert await deps.limiter.holders(scopes.account, now=deps.clock()) == []
    # A fresh claim gets a new job id, so it is not blocked by the dead job's id.
    assert await dispatch_once(deps) == 1


async def queued_by_campaign(db: Database) -> dict[int, int]:
    async with db.session() as s:
        rows = (await s.exec(select(Attempt.campaign_id).where(Attempt.state == "queued"))).all()
    return {c: rows.count(c) for c in set(rows)}


async def test_a_capped_campaign_gets_its_limit_plus_its_headroom_and_no_more(
    db: Database, make_deps: DepsFactory
) -> None:
    capped = await make_campaign(db, "capped", config={"max_concurrency": 3})
    free = await make_campaign(db, "free")
    for i in range(40):
        await make_contact(db, capped, f"a{i}", f"+1212736{i:04d}", timezone="America/New_York")
        await make_contact(db, free, f"b{i}", f"+1212737{i:04d}", timezone="America/New_York")
    deps = make_deps(concurrency_limit=10, dispatch_batch=500)
    room = 10 + headroom(deps.settings)
    assert await dispatch_once(deps) == room
    # Three to take its slots, three waiting for them; the rest of the room goes to the other.
    assert await queued_by_campaign(db) == {capped.id: 6, free.id: room - 6}


async def test_an_agents_limit_caps_the_campaigns_sharing_it(
    db: Database, make_deps: DepsFactory
) -> None:
    agent = {"agent_concurrency_limit": 2}
    first = await make_campaign(db, "first", config=agent)
    second = await make_campaign(db, "second", config=agent)
    for i in range(20):
        await make_contact(db, first, f"a{i}", f"+1212736{i:04d}", timezone="America/New_York")
        await make_contact(db, second, f"b{i}", f"+1212737{i:04d}", timezone="America/New_York")
    deps = make_deps(concurrency_limit=10, dispatch_batch=500)
    assert await dispatch_once(deps) == 4  # the agent's 2 and 2 waiting, split by weight
    assert await queued_by_campaign(db) == {first.id: 2, second.id: 2}
    assert await dispatch_once(deps) == 0


async def test_a_number_on_a_live_call_is_not_claimed_but_moved_on(
    db: Database, make_deps: DepsFactory
) -> None:
    campaign = await make_campaign(db)
    _, busy = await make_contact(db, campaign, "a", "+12127360001", timezone="America/New_York")
    _, twice = await make_contact(db, campaign, "b", "+12127360002", timezone="America/New_York")
    _, again = await make_contact(db, campaign, "c", "+12127360002", timezone="America/New_York")
    assert busy and twice and again and busy.id and twice.id and again.id
    deps = make_deps()
    # Another campaign's call to the first number is live.
    live = scopes_for(deps.settings, campaign, busy.phone_number)
    got = await deps.limiter.acquire(
        999, live.account, live.others, account_cap=10, now=deps.clock(), lease_secs=60
    )
    assert got.ok
    before = deps.now()
    assert await dispatch_once(deps) == 1
    rows = await attempts(db)
    assert rows[busy.id].state == "scheduled"
    moved_by = rows[busy.id].due_at - before
    assert timedelta(seconds=29) < moved_by < timedelta(seconds=31)
    # One number, one attempt per pass: the second stays due for the next pass.
    assert (rows[twice.id].state, rows[again.id].state) == ("queued", "scheduled")
    assert rows[again.id].due_at <= deps.now()


async def test_burst_room_goes_to_the_campaigns_that_may_burst(
    db: Database, make_deps: DepsFactory
) -> None:
    bursting = await make_campaign(db, "bursting", config={"burst": {"mode": "on"}})
    steady = await make_campaign(db, "steady")
    for i in range(40):
        await make_contact(db, bursting, f"a{i}", f"+1212736{i:04d}", timezone="America/New_York")
        await make_contact(db, steady, f"b{i}", f"+1212737{i:04d}", timezone="America/New_York")
    deps = make_deps(concurrency_limit=5, dispatch_batch=500)
    # The bursting campaign has 15 calls live: the plan's 5 and 10 burst slots of its 15.
    for member in range(1000, 1015):
        scopes = scopes_for(deps.settings, bursting, f"+1415555{member:04d}", allow_burst=True)
        got = await deps.limiter.acquire(
            member, scopes.account, scopes.others, account_cap=15, now=deps.clock(), lease_secs=60
        )
        assert got.ok
    # Room for 10 more (its burst ceiling plus the headroom), none of which the steady campaign
    # could take before the account is back under the plan's limit.
    assert await dispatch_once(deps) == 10
    assert await queued_by_campaign(db) == {bursting.id: 10}
