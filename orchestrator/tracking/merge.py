"""Monotonic merge of provider news into an attempt and its outcome.

News may arrive late, twice, or out of order, from webhooks or from polling: the attempt never
moves backwards, a terminal state never changes, and the outcome only gets richer (a field once
known is never erased). So any order and any number of deliveries give the same final record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.deps import Deps
from orchestrator.domain.attempt import AttemptState, is_terminal, may_advance
from orchestrator.domain.outcome import CallFacts
from orchestrator.lifecycle import (
    count_burst_surcharge,
    finish_attempt,
    hold_slots,
    lock_rows,
    release_ended,
    release_slots,
    settle_in,
)
from orchestrator.store.models import Attempt, Campaign, Outcome
from orchestrator.store.types import utcnow

#: States whose news renews the call's leases (the provider has the call).
_RENEWS = frozenset({AttemptState.INITIATED, AttemptState.IN_PROGRESS})

_ENRICH = (
    "call_successful",
    "termination_reason",
    "failure_reason",
    "duration_secs",
    "cost_credits",
    "cost_fiat",
)


@dataclass
class Merged:
    """What one merge left: the attempt's state afterwards, and whether it settled the end."""

    attempt: Attempt | None = None
    terminal: bool = False
    #: News of a live call: its leases are renewed after the commit.
    live: bool = False
    #: True when this merge also did the end-of-call bookkeeping (exactly one merge does).
    settled: bool = False
    outcome: Outcome | None = None
    campaign: Campaign | None = None


async def merge_facts(deps: Deps, attempt_id: int, facts: CallFacts, source: str) -> bool:
    """Merge `facts` into the attempt; True when the attempt is terminal afterwards."""
    if is_terminal(facts.state):
        # The provider says the call is over, so its slots are free at the provider now: hand
        # them to a waiting dial before the bookkeeping (a crash after this is caught by the
        # lease recovery, which finds the call ended and settles it).
        await release_ended(deps, attempt_id)

    async def work(s: AsyncSession) -> Merged:
        return await merge_in(deps, s, attempt_id, facts, source)

    # Through the group commit: the merges (and end-of-call bookkeeping) of many calls share
    # one transaction.
    merged = await deps.bookkeeping.run(work)
    await after_merge(deps, merged, released=is_terminal(facts.state))
    return merged.terminal


async def merge_in(
    deps: Deps, s: AsyncSession, attempt_id: int, facts: CallFacts, source: str
) -> Merged:
    """Merge `facts` inside the caller's write transaction, settling the end when it comes.

    Safe to run again after a rollback (the group commit may): every change is a merge or a
    compare-and-set against the row as it is now.
    """
    now = utcnow()
    # Lock the attempt's row: on Postgres two workers may merge news of one call at once
    # (webhook and poll, transcription and audio), and both would find no outcome and
    # insert one. SQLite's write lock serializes this already (FOR UPDATE is not rendered).
    locked = await lock_rows(s, attempt_id)
    if locked is None:
        return Merged()
    attempt = locked.attempt
    if may_advance(attempt.state, facts.state):
        # The row is locked, so plain assignments are as safe as a compare-and-set here.
        for name, value in _advance_values(facts, now).items():
            setattr(attempt, name, value)
        attempt.state = facts.state.value
        attempt.updated_at = now
    else:
        attempt.last_news_at = now
        if facts.call_successful and not attempt.call_successful:
            attempt.call_successful = facts.call_successful
    s.add(attempt)
    outcome = locked.outcome
    if is_terminal(facts.state) or facts.summary or facts.data_collection:
        outcome = _enrich_outcome(s, attempt, outcome, facts, source)
    merged = Merged(attempt=attempt, terminal=is_terminal(attempt.state), campaign=locked.campaign)
    if merged.terminal and not attempt.retry_planned:
        merged.settled, merged.outcome = await settle_in(
            deps, s, attempt_id, locked=replace(locked, outcome=outcome)
        )
    merged.live = AttemptState(attempt.state) in _RENEWS
    return merged


async def after_merge(deps: Deps, merged: Merged, *, released: bool) -> None:
    """What follows a merge's commit: slots freed or renewed, burst credits counted.

    Args:
        deps: The process's clients.
        merged: What the merge returned.
        released: The slots were freed already (before the merge, on news of the end).
    """
    attempt, campaign = merged.attempt, merged.campaign
    if attempt is None or attempt.id is None or campaign is None:
        return
    if merged.terminal:
        if not released:
            await release_slots(deps, attempt.id, campaign, attempt.phone_number)
        if merged.settled:
            await count_burst_surcharge(deps, campaign, merged.outcome)
    elif merged.live:
        # News of a live call renews its leases, so a long call never loses its slots.
        await hold_slots(deps, attempt.id, campaign, attempt.phone_number)
        async with deps.db.quick() as s:
            ended = await s.get(Attempt, attempt.id)
        if ended is not None and is_terminal(ended.state):
            # The end was merged meanwhile and freed the slots before we renewed them.
            await finish_attempt(deps, attempt.id)


def _advance_values(facts: CallFacts, now: datetime) -> dict[str, Any]:
    """Columns an attempt takes from news that moves it forward."""
    values: dict[str, Any] = {"last_news_at": now}
    if is_terminal(facts.state):
        values["ended_at"] = now
    if facts.call_successful:
        values["call_successful"] = facts.call_successful
    if facts.is_burst is not None:
        values["is_burst"] = facts.is_burst
    if facts.answered_by:
        values["answered_by"] = facts.answered_by
    return values


def _enrich_outcome(
    s: AsyncSession, attempt: Attempt, outcome: Outcome | None, facts: CallFacts, source: str
) -> Outcome:
    if outcome is None:
        outcome = Outcome(
            attempt_id=attempt.id or 0,
            campaign_id=attempt.campaign_id,
            conversation_id=attempt.conversation_id,
            state=facts.state.value if is_terminal(facts.state) else attempt.state,
        )
    if is_terminal(attempt.state) or is_terminal(facts.state):
        # The attempt's own terminal state is the truth (first terminal news won).
        outcome.state = attempt.state if is_terminal(attempt.state) else facts.state.value
    for name in _ENRICH:
        value = getattr(facts, name)
        if value is not None and getattr(outcome, name) is None:
            setattr(outcome, name, value)
    if facts.summary and not outcome.transcript_summary:
        outcome.transcript_summary = facts.summary
    if facts.is_burst:
        outcome.is_burst = True
    if facts.transferred:
        outcome.transferred = True
    if facts.has_audio:
        outcome.has_audio = True
    if facts.data_collection:
        outcome.data_collection = {**facts.data_collection, **outcome.data_collection}
    if facts.evaluation:
        outcome.evaluation = {**facts.evaluation, **outcome.evaluation}
    sources = dict(outcome.sources)
    sources[source] = sources.get(source, 0) + 1
    outcome.sources = sources
    outcome.updated_at = utcnow()
    s.add(outcome)
    return outcome


def facts_dict(facts: CallFacts) -> dict[str, Any]:
    """A JSON-able view of facts, for logs."""
    return {k: v for k, v in asdict(facts).items() if v not in (None, {}, False)}
