"""Processing of stored webhook events (in the worker)."""

from __future__ import annotations

import json
from enum import StrEnum

import structlog
from sqlmodel import select

from orchestrator.domain.outcome import facts_from_conversation, facts_from_initiation_failure
from orchestrator.runtime import Deps
from orchestrator.store.models import Attempt, Outcome, WebhookEvent
from orchestrator.store.types import utcnow
from orchestrator.tracking.merge import merge_facts

log = structlog.get_logger(__name__)


class EventResult(StrEnum):
    """What processing one event did."""

    PROCESSED = "processed"
    ALREADY = "already_processed"
    UNMATCHED = "unmatched"
    MISSING = "missing"


async def _mark(deps: Deps, event_id: int, status: str, error: str | None = None) -> None:
    async with deps.db.session() as s:
        event = await s.get(WebhookEvent, event_id)
        if event is not None:
            event.status = status
            event.error = error
            event.processed_at = utcnow()


async def process_event(deps: Deps, event_id: int) -> EventResult:
    """Apply one stored event to its attempt; an unknown conversation is kept as unmatched."""
    async with deps.db.session() as s:
        event = await s.get(WebhookEvent, event_id)
        if event is None:
            return EventResult.MISSING
        if event.status == "processed":
            return EventResult.ALREADY
        attempt = None
        if event.conversation_id:
            attempt = (
                await s.exec(
                    select(Attempt).where(Attempt.conversation_id == event.conversation_id)
                )
            ).first()
        body, event_type, body_path = event.body, event.event_type, event.body_path
    if attempt is None or attempt.id is None:
        await _mark(deps, event_id, "unmatched")
        return EventResult.UNMATCHED
    data = json.loads(body)["data"]
    if event_type == "post_call_transcription":
        await merge_facts(deps, attempt.id, facts_from_conversation(data), "webhook")
    elif event_type == "call_initiation_failure":
        await merge_facts(deps, attempt.id, facts_from_initiation_failure(data), "webhook")
    elif event_type == "post_call_audio" and body_path:
        await _link_audio(deps, attempt.id, event.conversation_id or "", body_path)
    await _mark(deps, event_id, "processed")
    return EventResult.PROCESSED


async def _link_audio(deps: Deps, attempt_id: int, conversation_id: str, location: str) -> None:
    """Point the attempt's outcome at its stored recording (the webhook streamed it there)."""
    async with deps.db.session() as s:
        outcome = (await s.exec(select(Outcome).where(Outcome.attempt_id == attempt_id))).first()
        if outcome is None:
            # Audio may come before the transcription: start the outcome; the merge fills it.
            attempt = await s.get(Attempt, attempt_id)
            assert attempt is not None
            outcome = Outcome(
                attempt_id=attempt_id,
                campaign_id=attempt.campaign_id,
                conversation_id=conversation_id,
                state=attempt.state,
            )
        outcome.has_audio = True
        outcome.audio_path = location
        s.add(outcome)
