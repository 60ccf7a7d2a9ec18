"""Whether a campaign's next call may take a burst slot (above the plan's limit, billed 2×).

- `off`: never; `on`: always, up to the burst ceiling.
- `deadline`: only while the campaign's backlog cannot finish inside the contact's window today at
  the plan's limit: backlog × expected call time ÷ capacity > time left. The expected call time is
  measured on the campaign's recent calls (the configured guess until there are enough).
- `budget`: while today's burst calls (reserved atomically in Redis, so concurrent dialers never
  overshoot) and extra credits (added as burst calls end) stay under the campaign's caps.

The backlog and measured duration are cached for a second per campaign: at dozens of dials per
second one query each would cost more than the decision is worth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from sqlalchemy import func
from sqlmodel import col, select

from orchestrator import keys
from orchestrator.domain.attempt import AttemptState
from orchestrator.domain.campaign_policy import CampaignPolicy
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt

#: Finished calls needed before their measured duration replaces the configured guess.
MIN_SAMPLES = 5
SAMPLE_SIZE = 50
CACHE_SECS = 1.0
#: Budget counters outlive their day by a day, then expire.
BUDGET_TTL_SECS = 2 * 86_400

# KEYS: budget hash. ARGV: max calls (-1: none), max extra credits (-1: none), ttl.
# Reserves one burst call when both caps allow it; returns 1 when reserved.
_RESERVE = """
local calls = tonumber(redis.call('HGET', KEYS[1], 'calls') or '0')
local credits = tonumber(redis.call('HGET', KEYS[1], 'credits') or '0')
if tonumber(ARGV[1]) >= 0 and calls >= tonumber(ARGV[1]) then return 0 end
if tonumber(ARGV[2]) >= 0 and credits >= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], 'calls', 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

_ENDED = [
    AttemptState.COMPLETED.value,
    AttemptState.VOICEMAIL.value,
    AttemptState.NO_ANSWER.value,
    AttemptState.BUSY.value,
    AttemptState.FAILED.value,
]


@dataclass(frozen=True)
class BurstGrant:
    """May the call burst; `reserved` when a budget reservation must be settled afterwards."""

    allowed: bool
    reserved: bool = False
    day: str = ""


NO_BURST = BurstGrant(allowed=False)


def budget_day(now: datetime, policy: CampaignPolicy) -> str:
    """The budget's day: the calendar date in the campaign's zone (UTC when it has none)."""
    zone = ZoneInfo(policy.timezone) if policy.timezone else UTC
    return now.astimezone(zone).date().isoformat()


@dataclass(frozen=True)
class Backlog:
    """How many attempts wait for today's window, and how long a call takes."""

    attempts: int
    call_secs: float


class BurstAdvisor:
    """Decides burst per call and keeps the per-day budget counters."""

    def __init__(self, redis: Redis, db: Database, settings: Settings) -> None:
        # Typed Any: redis-py's stubs type hash commands as "awaitable or value".
        self._redis: Any = redis
        self._db = db
        self._settings = settings
        self._reserve = redis.register_script(_RESERVE)
        self._cache: dict[tuple[int, int], tuple[float, Backlog]] = {}

    async def grant(
        self,
        campaign_id: int,
        policy: CampaignPolicy,
        *,
        now: float,
        closes_at: float | None,
        day: str,
    ) -> BurstGrant:
        """Whether the campaign's next call may burst.

        Args:
            campaign_id: the campaign.
            policy: its policy.
            now: real Unix time.
            closes_at: real Unix time the contact's window closes today (None: unknown).
            day: the budget's day (`budget_day`).
        """
        mode = policy.burst.mode
        if mode == "on":
            return BurstGrant(allowed=True)
        if mode == "deadline" and closes_at is not None:
            backlog = await self.backlog(campaign_id, until=closes_at)
            return BurstGrant(allowed=self.needs_burst(backlog, policy, closes_at - now))
        if mode == "budget":
            calls = policy.burst.max_burst_calls_per_day
            credits = policy.burst.max_extra_credits_per_day
            ok: Any = await self._reserve(
                keys=[keys.burst_budget(campaign_id, day)],
                args=[
                    -1 if calls is None else calls,
                    -1 if credits is None else credits,
                    BUDGET_TTL_SECS,
                ],
            )
            return BurstGrant(allowed=bool(int(ok)), reserved=bool(int(ok)), day=day)
        return NO_BURST

    def needs_burst(self, backlog: Backlog, policy: CampaignPolicy, secs_left: float) -> bool:
        """True when the backlog cannot finish in `secs_left` at the plan's limit."""
        capacity = min(
            self._settings.account_limit,
            policy.max_concurrency or self._settings.account_limit,
            policy.agent_concurrency_limit or self._settings.account_limit,
        )
        return backlog.attempts * backlog.call_secs / capacity > max(0.0, secs_left)

    async def settle(self, campaign_id: int, grant: BurstGrant, *, did_burst: bool) -> None:
        """Give back a budget reservation the call did not use."""
        if grant.reserved and not did_burst:
            await self._redis.hincrby(keys.burst_budget(campaign_id, grant.day), "calls", -1)

    async def add_extra_credits(self, campaign_id: int, day: str, credits: float) -> None:
        """Count the surcharge of an ended burst call against the campaign's daily budget."""
        key = keys.burst_budget(campaign_id, day)
        await self._redis.hincrbyfloat(key, "credits", credits)
        await self._redis.expire(key, BUDGET_TTL_SECS)

    async def spent(self, campaign_id: int, day: str) -> tuple[int, float]:
        """Burst calls and extra credits counted for the campaign on `day`."""
        raw = await self._redis.hmget(keys.burst_budget(campaign_id, day), ["calls", "credits"])
        return int(raw[0] or 0), float(raw[1] or 0.0)

    async def backlog(self, campaign_id: int, *, until: float) -> Backlog:
        """Attempts due before `until` (real Unix time) and the measured call time (cached)."""
        bucket = (campaign_id, int(until))
        hit = self._cache.get(bucket)
        if hit is not None and time.monotonic() - hit[0] < CACHE_SECS:
            return hit[1]
        cutoff = datetime.fromtimestamp(until, UTC)
        async with self._db.read() as s:
            waiting = (
                await s.exec(
                    select(func.count())
                    .select_from(Attempt)
                    .where(
                        Attempt.campaign_id == campaign_id,
                        col(Attempt.state).in_(
                            [AttemptState.SCHEDULED.value, AttemptState.QUEUED.value]
                        ),
                        col(Attempt.due_at) < cutoff,
                    )
                )
            ).one()
            spans = (
                await s.exec(
                    select(Attempt.dial_started_at, Attempt.ended_at)
                    .where(
                        Attempt.campaign_id == campaign_id,
                        col(Attempt.state).in_(_ENDED),
                        col(Attempt.ended_at).is_not(None),
                        col(Attempt.dial_started_at).is_not(None),
                    )
                    .order_by(col(Attempt.ended_at).desc())
                    .limit(SAMPLE_SIZE)
                )
            ).all()
        durations = [(e - b).total_seconds() for b, e in spans if b is not None and e is not None]
        call_secs = (
            sum(durations) / len(durations)
            if len(durations) >= MIN_SAMPLES
            else self._settings.expected_call_secs
        )
        found = Backlog(int(waiting), max(0.0, call_secs))
        if len(self._cache) > 1024:
            self._cache.clear()
        self._cache[bucket] = (time.monotonic(), found)
        return found
