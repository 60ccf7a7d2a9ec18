"""The dispatcher: moves due attempts from the database into arq, a batch at a time.

Redis only ever holds what is about to run: in every limiter scope (account, agent, campaign,
number) at most its free capacity plus a small headroom of waiting dial jobs (so a freed slot is
taken at once by a job already waiting for it), see `capacity`. A campaign at its own limit so
never fills the queue ahead of one that can dial. The batch is shared across campaigns by weight
within those limits (`fairness.allocate`). An attempt whose calling window is closed is not
claimed: its `due_at` moves to the window's next opening, so `due_at <= now` stays the only
filter and closed windows cost nothing until they open; one whose window never opens again is
canceled; one whose number is on another live call moves `NUMBER_BUSY_DELAY_SECS` on. Attempts
are claimed by compare-and-set (scheduled → queued), so several workers can dispatch side by
side. Job ids come from the attempt id and the claim, so enqueueing one twice is a no-op.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, update
from sqlmodel import col, select

from orchestrator import keys
from orchestrator.deps import Deps
from orchestrator.domain.attempt import AttemptState
from orchestrator.domain.campaign_policy import CampaignPolicy, policy_of
from orchestrator.domain.windows.contact import WindowBook
from orchestrator.domain.windows.location import locate
from orchestrator.lifecycle import count_failure, end_attempt, failure_kind, failure_reason
from orchestrator.limiter.scopes import NUMBER_BUSY_DELAY_SECS, scopes_for
from orchestrator.scheduling.capacity import Capacity, capacity, free_numbers
from orchestrator.scheduling.fairness import allocate
from orchestrator.scheduling.unusable import unusable_policy
from orchestrator.store.attempts import transition, transition_many
from orchestrator.store.models import Attempt, Campaign, Contact

log = structlog.get_logger(__name__)

#: Rows read per campaign beyond its share, so closed windows do not starve a pass.
_LOOKAHEAD = 2


@dataclass(frozen=True)
class _Active:
    campaign_id: int
    weight: int
    agent_id: str
    policy: CampaignPolicy


async def _active_campaigns(deps: Deps) -> dict[int, _Active]:
    async with deps.db.read() as s:
        rows = (
            await s.exec(
                select(Campaign.id, Campaign.weight, Campaign.agent_id, Campaign.config).where(
                    Campaign.status == "active"
                )
            )
        ).all()
    # A campaign whose stored policy is unusable is left out, so it stalls nobody: its due
    # attempts are parked with the reason by `unusable.park_unusable`.
    return {
        i: _Active(i, w, a, policy_of(dict(c)))
        for i, w, a, c in rows
        if i is not None and unusable_policy(c) is None
    }


async def _due_counts(deps: Deps, active: dict[int, _Active], now: datetime) -> dict[int, int]:
    async with deps.db.read() as s:
        rows = (
            await s.exec(
                select(Attempt.campaign_id, func.count())
                .where(
                    Attempt.state == AttemptState.SCHEDULED,
                    col(Attempt.due_at) <= now,
                    col(Attempt.campaign_id).in_(list(active)),
                )
                .group_by(col(Attempt.campaign_id))
            )
        ).all()
    return {campaign_id: int(n) for campaign_id, n in rows}


async def _shares(
    deps: Deps, active: dict[int, _Active], due: dict[int, int], limits: Capacity
) -> dict[int, int]:
    client: Any = deps.redis  # redis-py types hash commands as "awaitable or value"
    raw = await client.hgetall(keys.fair_share())
    credit = {int(k): float(v) for k, v in raw.items()}
    weights = {c: a.weight for c, a in active.items()}
    shares = allocate(weights, due, limits.room, credit, limits.pools)
    async with deps.redis.pipeline(transaction=True) as pipe:
        pipe.delete(keys.fair_share())
        if credit:
            pipe.hset(keys.fair_share(), mapping={str(k): v for k, v in credit.items()})
        await pipe.execute()
    return shares


async def dispatch_once(deps: Deps) -> int:
    """Claim and enqueue due attempts up to the free capacity; returns how many were enqueued."""
    now = deps.now()
    active = await _active_campaigns(deps)
    if not active:
        return 0
    limits = await capacity(deps, {c: (a.agent_id, a.policy) for c, a in active.items()})
    if limits.room <= 0:
        return 0
    due = await _due_counts(deps, active, now)
    if not due:
        return 0
    shares = await _shares(deps, active, due, limits)
    book = WindowBook(deps.settings.legal, deps.calendar.now())
    claim = int(now.timestamp() * 1000)
    claimed: list[int] = []
    numbers: set[str] = set()  # one attempt per number in a pass
    for campaign_id, share in shares.items():
        claimed += await _claim(deps, active[campaign_id], share, now, book, numbers)
    for attempt_id in claimed:
        await deps.enqueue(keys.JOB_DIAL, attempt_id, job_id=keys.dial_job_id(attempt_id, claim))
    return len(claimed)


async def _claim(
    deps: Deps,
    campaign: _Active,
    share: int,
    now: datetime,
    book: WindowBook,
    numbers: set[str],
) -> list[int]:
    """Claim up to `share` due attempts of one campaign whose window is open and whose number
    is free (not in `numbers`, which it extends); move the rest."""
    async with deps.db.read() as s:
        rows = (
            await s.exec(
                select(Attempt.id, Attempt.phone_number, Contact.timezone)
                .join(Contact, col(Contact.id) == Attempt.contact_id)
                .where(
                    Attempt.campaign_id == campaign.campaign_id,
                    Attempt.state == AttemptState.SCHEDULED,
                    col(Attempt.due_at) <= now,
                )
                .order_by(col(Attempt.due_at), col(Attempt.id))
                .limit(share * _LOOKAHEAD)
            )
        ).all()
    open_now: list[tuple[int, str]] = []
    later: dict[datetime, list[int]] = defaultdict(list)
    never: list[tuple[int, str]] = []
    failed: list[tuple[int, Exception]] = []
    for attempt_id, phone, zone in rows:
        assert attempt_id is not None
        try:
            location = locate(phone, zone, campaign.policy.timezone)
            window = book.get(campaign.campaign_id, campaign.policy, location)
            opens_at = None if window.verdict.open else window.verdict.opens_at
            real_opening = deps.calendar.to_real(opens_at) if opens_at is not None else None
        except Exception as exc:  # one attempt it cannot place never stops the pass
            failed.append((attempt_id, exc))
            continue
        if window.verdict.open:
            open_now.append((attempt_id, phone))
        elif real_opening is not None:
            later[real_opening].append(attempt_id)
        else:
            never.append((attempt_id, window.never_reason()))
    ready, busy = await free_numbers(deps, open_now, share, numbers)
    if busy:
        # On another live call: not a claim either, due again once that call is likely over.
        later[now + timedelta(seconds=NUMBER_BUSY_DELAY_SECS)] += busy
    async with deps.db.session() as s:
        claimed = await transition_many(
            s, ready, AttemptState.SCHEDULED, AttemptState.QUEUED, queued_at=now
        )
        for opens_at, ids in later.items():
            # Not a claim: the attempt stays scheduled, due when its window opens (or, when its
            # number was busy, when that call is likely over).
            await s.exec(
                update(Attempt)
                .where(col(Attempt.id).in_(ids), col(Attempt.state) == AttemptState.SCHEDULED)
                .values(due_at=opens_at)
            )
    for attempt_id, reason in never:
        await _cancel(deps, attempt_id, reason)
    for attempt_id, error in failed:
        # Counted: rescheduled, and parked with the reason when it keeps failing.
        await count_failure(
            deps, attempt_id, [AttemptState.SCHEDULED], failure_kind(error), failure_reason(error)
        )
    return claimed


async def _cancel(deps: Deps, attempt_id: int, reason: str) -> None:
    if await end_attempt(deps, attempt_id, [AttemptState.SCHEDULED], AttemptState.CANCELED, reason):
        log.info("dispatch.canceled", attempt_id=attempt_id, reason=reason)


async def requeue_stale(deps: Deps) -> int:
    """Hand back to the dispatcher the queued attempts whose dial job has not moved for long.

    Their job was lost (Redis restarted) or is held by a worker that died (arq keeps a dead
    job's lock for its whole timeout). A new claim gets a new job id, so it runs at once; if the
    old job ever runs it finds the attempt no longer queued, or loses the queued → dialing race.
    """
    cutoff = deps.now() - timedelta(seconds=deps.settings.stale_queued_secs)
    async with deps.db.read() as s:
        stale = (
            await s.exec(
                select(Attempt.id, Attempt.phone_number, Campaign)
                .join(Campaign, col(Campaign.id) == Attempt.campaign_id)
                .where(Attempt.state == AttemptState.QUEUED, col(Attempt.queued_at) < cutoff)
            )
        ).all()
    count = 0
    for attempt_id, phone, campaign in stale:
        assert attempt_id is not None
        async with deps.db.session() as s:
            moved = await transition(
                s,
                attempt_id,
                [AttemptState.QUEUED],
                AttemptState.SCHEDULED,
                due_at=deps.now(),
                queued_at=None,
            )
        if moved:
            # A dead job may have died holding slots between acquiring and dialing.
            await deps.limiter.release(attempt_id, scopes_for(deps.settings, campaign, phone).all)
            count += 1
    if count:
        log.warning("dispatch.requeued_stale", attempts=count)
    return count
