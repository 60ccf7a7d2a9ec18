"""The dispatcher: moves due attempts from the database into arq, a batch at a time.

Redis only ever holds what is about to run: at most the free capacity plus a headroom of waiting
dial jobs (so a freed slot is taken at once by a job already waiting for it). Attempts are
claimed by compare-and-set (scheduled → queued), so several workers can dispatch side by side.
Job ids come from attempt ids, so enqueueing one twice is a no-op.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlmodel import col, select

from orchestrator import keys
from orchestrator.dialing.scopes import burst_cap
from orchestrator.domain.attempt import AttemptState
from orchestrator.limiter.slots import Scope
from orchestrator.runtime import Deps
from orchestrator.store.attempts import transition_many
from orchestrator.store.models import Attempt, Campaign
from orchestrator.store.types import utcnow

#: A queued attempt older than this without a running job is enqueued again (lost job).
STALE_QUEUED_SECS = 60.0


async def dispatch_once(deps: Deps) -> int:
    """Claim and enqueue due attempts up to the free capacity; returns how many were enqueued."""
    now = utcnow()
    settings = deps.settings
    account = Scope(keys.SCOPE_ACCOUNT, "main", settings.account_limit)
    live = await deps.limiter.in_flight(account, now=deps.clock())
    ceiling = burst_cap(settings)
    async with deps.db.session() as s:
        queued = (
            await s.exec(
                select(func.count())
                .select_from(Attempt)
                .where(Attempt.state == AttemptState.QUEUED)
            )
        ).one()
        room = ceiling - live + settings.account_limit - int(queued)
        room = min(room, settings.dispatch_batch)
        if room <= 0:
            return 0
        due = (
            await s.exec(
                select(Attempt.id)
                .join(Campaign, col(Campaign.id) == Attempt.campaign_id)
                .where(
                    Attempt.state == AttemptState.SCHEDULED,
                    col(Attempt.due_at) <= now,
                    Campaign.status == "active",
                )
                .order_by(col(Attempt.due_at), col(Attempt.id))
                .limit(room)
            )
        ).all()
        claimed = await transition_many(
            s,
            [i for i in due if i is not None],
            AttemptState.SCHEDULED,
            AttemptState.QUEUED,
            queued_at=now,
        )
    for attempt_id in claimed:
        await deps.enqueue(keys.JOB_DIAL, attempt_id, job_id=keys.dial_job_id(attempt_id))
    return len(claimed)


async def requeue_stale(deps: Deps) -> int:
    """Enqueue again the queued attempts whose job was lost (e.g. Redis restarted)."""
    cutoff = utcnow() - timedelta(seconds=STALE_QUEUED_SECS)
    async with deps.db.session() as s:
        stale = (
            await s.exec(
                select(Attempt.id).where(
                    Attempt.state == AttemptState.QUEUED, col(Attempt.queued_at) < cutoff
                )
            )
        ).all()
    count = 0
    for attempt_id in stale:
        assert attempt_id is not None
        if await deps.enqueue(keys.JOB_DIAL, attempt_id, job_id=keys.dial_job_id(attempt_id)):
            count += 1
    return count
