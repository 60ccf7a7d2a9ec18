"""Polling fallback: whatever a webhook never told us, the provider's API does.

- Live attempts with no news for `poll_after_secs` are polled (GET conversation) and merged.
- Calls the dialer's reconciler adopted (`dialing/reconcile.py`) are read and merged at once.
- Live calls whose leases expired are asked about again (`recover_lost_leases`): the merge of
  the provider's answer re-takes the slots or settles the end, so a call is never forgotten.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import structlog
from sqlmodel import col, select

from orchestrator.deps import Deps
from orchestrator.domain.attempt import AttemptState
from orchestrator.domain.outcome import facts_from_conversation
from orchestrator.errors import ProviderError
from orchestrator.limiter.scopes import account_scope
from orchestrator.store.models import Attempt
from orchestrator.tracking.merge import merge_facts

log = structlog.get_logger(__name__)

POLL_CONCURRENCY = 8
#: Slack around the dial's start when matching conversations by start time (clock skew).
START_SLACK_SECS = 120
#: A handed-back attempt still holding slots this long after its last change is an orphan.
ORPHAN_SETTLE_SECS = 10.0
#: The failure kind of a dial whose fate stayed unknown with no call found at the provider.
NO_CALL_FOUND = "no_call_found"


async def poll_stale(deps: Deps, *, limit: int = 200) -> int:
    """Poll live attempts whose last news is too old; returns how many were polled."""
    cutoff = deps.now() - timedelta(seconds=deps.settings.poll_after_secs)
    async with deps.db.read() as s:
        rows = (
            await s.exec(
                select(Attempt.id, Attempt.conversation_id)
                .where(
                    col(Attempt.state).in_(
                        [AttemptState.INITIATED.value, AttemptState.IN_PROGRESS.value]
                    ),
                    col(Attempt.conversation_id).is_not(None),
                    col(Attempt.last_news_at) < cutoff,
                )
                .order_by(col(Attempt.last_news_at))
                .limit(limit)
            )
        ).all()
    gate = asyncio.Semaphore(POLL_CONCURRENCY)

    async def one(attempt_id: int, conversation_id: str) -> None:
        async with gate:
            try:
                record = await deps.provider.get_conversation(conversation_id)
                if record is not None:
                    await merge_facts(deps, attempt_id, facts_from_conversation(record), "poll")
            except ProviderError as exc:
                log.warning("poll.failed", attempt_id=attempt_id, reason=str(exc))
            except Exception:
                # One call we cannot ask about or merge never stops the others being polled.
                log.exception("poll.record_failed", attempt_id=attempt_id)

    await asyncio.gather(*(one(a, c) for a, c in rows if a is not None and c is not None))
    return len(rows)


async def recover_lost_leases(deps: Deps, *, limit: int = 200) -> int:
    """Ask the provider about live calls whose leases are gone; returns how many were asked.

    A lease expires when no news renewed it for the longest possible call: the call may still run
    (the provider counts it) or may have ended unnoticed (a lost webhook). Either way it is never
    forgotten: the merge of the provider's answer re-takes the slots or settles the end.
    """
    held = set(await deps.limiter.holders(account_scope(deps.settings), now=deps.clock()))
    async with deps.db.read() as s:
        rows = (
            await s.exec(
                select(Attempt.id, Attempt.conversation_id).where(
                    col(Attempt.state).in_(
                        [AttemptState.INITIATED.value, AttemptState.IN_PROGRESS.value]
                    ),
                    col(Attempt.conversation_id).is_not(None),
                )
            )
        ).all()
    lost = [(a, c) for a, c in rows if a is not None and c and str(a) not in held][:limit]
    for attempt_id, conversation_id in lost:
        try:
            record = await deps.provider.get_conversation(conversation_id)
            if record is not None:
                log.warning("lease.lost", attempt_id=attempt_id, conversation_id=conversation_id)
                await merge_facts(deps, attempt_id, facts_from_conversation(record), "lease")
        except ProviderError as exc:
            log.warning("lease.poll_failed", attempt_id=attempt_id, reason=str(exc))
        except Exception:
            # One call we cannot ask about never stops the others (see `poll_stale`).
            log.exception("lease.record_failed", attempt_id=attempt_id)
    return len(lost)


async def merge_adopted(deps: Deps, adopted: Sequence[tuple[int, str]]) -> int:
    """Read and merge the calls the reconciler adopted (attempt id, conversation id).

    Their webhooks may have come and gone while no attempt knew the conversation (those are
    replayed by the adoption itself); the provider's record brings the attempt up to date now.
    """
    merged = 0
    for attempt_id, conversation_id in adopted:
        try:
            record = await deps.provider.get_conversation(conversation_id)
            if record is not None:
                await merge_facts(deps, attempt_id, facts_from_conversation(record), "reconcile")
                merged += 1
        except ProviderError as exc:
            log.warning("reconcile.read_failed", attempt_id=attempt_id, reason=str(exc))
        except Exception:
            # One call we cannot read never stops the others (it is polled later anyway).
            log.exception("reconcile.record_failed", attempt_id=attempt_id)
    return merged
