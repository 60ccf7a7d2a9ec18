"""Burst policies: off, on, deadline (only when the backlog cannot finish) and budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.domain.campaign_policy import CampaignPolicy
from orchestrator.limiter.burst import Backlog, BurstAdvisor, budget_day
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt
from tests.support.factories import make_campaign, make_contact

NOW = 1_700_000_000.0


def policy(**burst: Any) -> CampaignPolicy:
    return CampaignPolicy.model_validate({"burst": burst})


@pytest.fixture
def advisor(fake_redis: Any, db: Database, settings: Settings) -> BurstAdvisor:
    resolved = settings.model_copy(update={"concurrency_limit": 10, "expected_call_secs": 60})
    return BurstAdvisor(fake_redis, db, resolved)


async def test_off_never_and_on_always(advisor: BurstAdvisor) -> None:
    off = await advisor.grant(1, policy(mode="off"), now=NOW, closes_at=NOW + 1, day="d")
    on = await advisor.grant(1, policy(mode="on"), now=NOW, closes_at=None, day="d")
    assert not off.allowed and on.allowed


def test_deadline_bursts_only_when_the_backlog_cannot_finish(advisor: BurstAdvisor) -> None:
    deadline = policy(mode="deadline")
    # 100 calls × 60 s ÷ 10 at once = 600 s of work.
    assert advisor.needs_burst(Backlog(100, 60.0), deadline, secs_left=599)
    assert not advisor.needs_burst(Backlog(100, 60.0), deadline, secs_left=601)
    # A campaign capped at 5 at once needs twice as long.
    capped = CampaignPolicy.model_validate({"burst": {"mode": "deadline"}, "max_concurrency": 5})
    assert advisor.needs_burst(Backlog(100, 60.0), capped, secs_left=1000)


async def test_deadline_counts_the_backlog_due_before_the_window_closes(
    advisor: BurstAdvisor, db: Database
) -> None:
    campaign = await make_campaign(db)
    assert campaign.id is not None
    now = datetime.now(UTC)
    for i in range(12):
        _, attempt = await make_contact(db, campaign, f"c{i}", f"+1212736{i:04d}")
        assert attempt is not None
        if i >= 10:  # due after the window closes: not today's backlog
            async with db.session() as s:
                row = await s.get(Attempt, attempt.id)
                assert row is not None
                row.due_at = now + timedelta(hours=5)
    closes = (now + timedelta(hours=1)).timestamp()
    backlog = await advisor.backlog(campaign.id, until=closes)
    assert backlog == Backlog(10, 60.0)  # no ended calls yet: the configured guess
    # 10 × 60 ÷ 10 = 60 s of work: 30 s left needs burst, 120 s does not.
    tight = await advisor.grant(
        campaign.id, policy(mode="deadline"), now=closes - 30, closes_at=closes, day="d"
    )
    roomy = await advisor.grant(
        campaign.id, policy(mode="deadline"), now=closes - 120, closes_at=closes, day="d"
    )
    assert tight.allowed and not roomy.allowed


async def test_deadline_measures_call_time_once_calls_have_ended(
    advisor: BurstAdvisor, db: Database
) -> None:
    campaign = await make_campaign(db)
    assert campaign.id is not None
    start = datetime.now(UTC) - timedelta(hours=1)
    for i in range(6):
        _, attempt = await make_contact(
            db, campaign, f"e{i}", f"+1212737{i:04d}", attempt_state="completed"
        )
        assert attempt is not None
        async with db.session() as s:
            row = await s.get(Attempt, attempt.id)
            assert row is not None
            row.dial_started_at, row.ended_at = start, start + timedelta(seconds=30)
    backlog = await advisor.backlog(campaign.id, until=NOW)
    assert backlog.call_secs == 30.0


async def test_budget_reserves_atomically_and_refunds_unused(advisor: BurstAdvisor) -> None:
    capped = policy(mode="budget", max_burst_calls_per_day=2)
    grants = [
        await advisor.grant(7, capped, now=NOW, closes_at=None, day="2025-03-04") for _ in range(3)
    ]
    assert [g.allowed for g in grants] == [True, True, False]
    # The first did not burst after all (the account was under its limit): refunded.
    await advisor.settle(7, grants[0], did_burst=False)
    await advisor.settle(7, grants[1], did_burst=True)
    assert await advisor.spent(7, "2025-03-04") == (1, 0.0)
    assert (await advisor.grant(7, capped, now=NOW, closes_at=None, day="2025-03-04")).allowed
    # Another day has its own budget.
    assert (await advisor.grant(7, capped, now=NOW, closes_at=None, day="2025-03-05")).allowed


async def test_budget_on_extra_credits(advisor: BurstAdvisor) -> None:
    capped = policy(mode="budget", max_extra_credits_per_day=1000)
    assert (await advisor.grant(8, capped, now=NOW, closes_at=None, day="d")).allowed
    await advisor.add_extra_credits(8, "d", 1200.0)
    assert not (await advisor.grant(8, capped, now=NOW, closes_at=None, day="d")).allowed
    assert await advisor.spent(8, "d") == (1, 1200.0)


def test_budget_day_is_the_campaigns_local_date() -> None:
    late = datetime(2025, 3, 5, 3, 0, tzinfo=UTC)  # still the 4th in New York
    assert budget_day(late, CampaignPolicy(timezone="America/New_York")) == "2025-03-04"
    assert budget_day(late, CampaignPolicy()) == "2025-03-05"
