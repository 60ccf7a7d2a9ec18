"""Provider news renews a live call's leases; news of its end frees them before any bookkeeping."""

from __future__ import annotations

from typing import Any

from orchestrator.deps import Deps
from orchestrator.domain.attempt import AttemptState
from orchestrator.domain.outcome import CallFacts
from orchestrator.limiter.scopes import scopes_for
from orchestrator.store.engine import Database
from orchestrator.store.models import Campaign
from orchestrator.tracking.merge import merge_facts
from tests.scheduling.conftest import DepsFactory
from tests.support.factories import make_campaign, make_contact


async def live(db: Database, deps: Deps, lease: float) -> tuple[Campaign, int, Any]:
    campaign = await make_campaign(db)
    _, attempt = await make_contact(db, campaign, attempt_state="initiated")
    assert attempt is not None and attempt.id is not None
    scopes = scopes_for(deps.settings, campaign, attempt.phone_number)
    got = await deps.limiter.acquire(
        attempt.id,
        scopes.account,
        scopes.others,
        account_cap=10,
        now=deps.clock(),
        lease_secs=lease,
    )
    assert got.ok
    return campaign, attempt.id, scopes


async def test_news_of_a_live_call_renews_its_leases(db: Database, make_deps: DepsFactory) -> None:
    deps = make_deps(max_call_secs=600, lease_margin_secs=60)
    _, attempt_id, scopes = await live(db, deps, lease=5)
    assert not await merge_facts(deps, attempt_id, CallFacts(AttemptState.IN_PROGRESS), "poll")
    # The first lease ended after 5 s; renewed, it outlives that by the longest call.
    later = deps.clock() + 60
    for scope in scopes.all:
        assert await deps.limiter.holders(scope, now=later) == [str(attempt_id)]


async def test_news_of_the_end_frees_every_slot(db: Database, make_deps: DepsFactory) -> None:
    deps = make_deps()
    _, attempt_id, scopes = await live(db, deps, lease=600)
    facts = CallFacts(AttemptState.COMPLETED, call_successful="success")
    assert await merge_facts(deps, attempt_id, facts, "webhook")
    for scope in scopes.all:
        assert await deps.limiter.holders(scope, now=deps.clock()) == []
    # Late news of the live call after its end must not take the slots back.
    assert await merge_facts(deps, attempt_id, CallFacts(AttemptState.IN_PROGRESS), "poll")
    for scope in scopes.all:
        assert await deps.limiter.holders(scope, now=deps.clock()) == []
