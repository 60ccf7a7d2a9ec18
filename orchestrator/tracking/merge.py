"""Monotonic merge of provider news into an attempt and its outcome.

News may arrive late, twice, or out of order, from webhooks or from polling: the attempt never
moves backwards, a terminal state never changes, and the outcome only gets richer (a field once
known is never erased). So any order and any number of deliveries give the same final record.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlmodel import select

from orchestrator.domain.attempt import AttemptState, is_terminal, may_advance
from orchestrator.domain.outcome import CallFacts
from orchestrator.runtime import Deps
from orchestrator.store.attempts import transition
from orchestrator.store.models import Attempt, Campaign, Outcome
from orchestrator.store.types import utcnow
from orchestrator.tracking.finalize import finish_attempt, hold_slots, release_ended

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


async def merge_facts(deps: Deps, attempt_id: int, facts: CallFacts, source: str) -> bool:
    """Merge `facts` into the attempt; True when the attempt is terminal afterwards."""
    if is_terminal(facts.state):
        # The provider says the call is over, so its slots are free at the provider now: hand
        # them to a waiting dial before the bookkeeping (a crash after this is caught by the
        # lease recovery, which finds the call ended and settles it).
        await release_ended(deps, attempt_id)
    now = utcnow()
    async with deps.db.session() as s:
        # Lock the attempt's row: on Postgres two workers may merge news of one call at once
        # (webhook and poll, transcription and audio), and both would find no outcome and
        # insert one. SQLite's write lock serializes this already (FOR UPDATE is not rendered).
        attempt = await s.get(Attempt, attempt_id, with_for_update=True)
        if attempt is None:
            return False
        if may_advance(attempt.state, facts.state):
            values = _advance_values(facts, now)
            await transition(s, attempt_id, [AttemptState(attempt.state)], facts.state, **values)
            await s.refresh(attempt)
        else:
            attempt.last_news_at = now
            if facts.call_successful and not attempt.call_successful:
                attempt.call_successful = facts.call_successful
            s.add(attempt)
        if is_terminal(facts.state) or facts.summary or facts.data_collection:
            await _enrich_outcome(s, attempt, facts, source)
        terminal = is_terminal(attempt.state)
        live = AttemptState(attempt.state) in _RENEWS
        campaign = await s.get(Campaign, attempt.campaign_id) if live else None
    if terminal:
        await finish_attempt(deps, attempt_id)
    elif campaign is not None:
        # News of a live call renews its leases, so a long call never loses its slots.
        await hold_slots(deps, attempt_id, campaign, attempt.phone_number)
        async with deps.db.read() as s:
            ended = await s.get(Attempt, attempt_id)
        if ended is not None and is_terminal(ended.state):
            # The end was merged meanwhile and freed the slots before we renewed them.
            await finish_attempt(deps, attempt_id)
    return terminal


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


async def _enrich_outcome(s: Any, attempt: Attempt, facts: CallFacts, source: str) -> None:
    outcome = (await s.exec(select(Outcome).where(Outcome.attempt_id == attempt.id))).first()
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


def facts_dict(facts: CallFacts) -> dict[str, Any]:
    """A JSON-able view of facts, for logs."""
    return {k: v for k, v in asdict(facts).items() if v not in (None, {}, False)}
