"""Processing of stored webhook events (in the worker)."""

from __future__ import annotations

import json
from datetime import timedelta
from enum import StrEnum
from urllib.parse import parse_qsl

import structlog
from sqlmodel import col, select

from orchestrator import keys
from orchestrator.domain.outcome import (
    facts_from_conversation,
    facts_from_initiation_failure,
    facts_from_twilio_status,
)
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
    async with deps.db.read() as s:
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
        call_sid = event.call_sid or (
            _call_sid_of(event.body) if attempt is None and event.conversation_id else None
        )
        if attempt is None and call_sid:
            # A call placed with our own Twilio client is known by its call SID until the
            # provider's first event tells us its conversation id.
            query = select(Attempt).where(Attempt.call_sid == call_sid)
            attempt = (await s.exec(query)).first()
        body, event_type, body_path = event.body, event.event_type, event.body_path
    if attempt is None or attempt.id is None:
        await _mark(deps, event_id, "unmatched")
        return EventResult.UNMATCHED
    if event_type == "twilio_status":
        params = dict(parse_qsl(body.decode()))
        await merge_facts(deps, attempt.id, facts_from_twilio_status(params), "twilio")
        await _mark(deps, event_id, "processed")
        return EventResult.PROCESSED
    if attempt.conversation_id is None and event.conversation_id:
        await _adopt_conversation(deps, attempt.id, event.conversation_id)
    data = json.loads(body)["data"]
    if event_type == "post_call_transcription":
        await merge_facts(deps, attempt.id, facts_from_conversation(data), "webhook")
    elif event_type == "call_initiation_failure":
        await merge_facts(deps, attempt.id, facts_from_initiation_failure(data), "webhook")
    elif event_type == "post_call_audio" and body_path:
        await _link_audio(deps, attempt.id, event.conversation_id or "", body_path)
    await _mark(deps, event_id, "processed")
    return EventResult.PROCESSED


def _call_sid_of(body: bytes) -> str | None:
    """`data.metadata.phone_call.call_sid` of a provider event, if any."""
    try:
        data = json.loads(body).get("data") or {}
        sid = ((data.get("metadata") or {}).get("phone_call") or {}).get("call_sid")
    except (ValueError, AttributeError):
        return None
    return str(sid) if sid else None


async def _adopt_conversation(deps: Deps, attempt_id: int, conversation_id: str) -> None:
    async with deps.db.session() as s:
        attempt = await s.get(Attempt, attempt_id)
        if attempt is not None and attempt.conversation_id is None:
            attempt.conversation_id = conversation_id
            s.add(attempt)


async def _link_audio(deps: Deps, attempt_id: int, conversation_id: str, location: str) -> None:
    """Point the attempt's outcome at its stored recording (the webhook streamed it there)."""
    async with deps.db.session() as s:
        # The attempt's row lock orders us with a concurrent merge (see `merge_facts`), which
        # on Postgres could otherwise insert the same outcome at the same time.
        attempt = await s.get(Attempt, attempt_id, with_for_update=True)
        assert attempt is not None
        outcome = (await s.exec(select(Outcome).where(Outcome.attempt_id == attempt_id))).first()
        if outcome is None:
            # Audio may come before the transcription: start the outcome; the merge fills it.
            outcome = Outcome(
                attempt_id=attempt_id,
                campaign_id=attempt.campaign_id,
                conversation_id=conversation_id,
                state=attempt.state,
            )
        outcome.has_audio = True
        outcome.audio_path = location
        s.add(outcome)


#: A stored event still waiting this long was never enqueued (Redis was down when it arrived)
#: or was a redelivery whose twin's job was running: enqueue it again (job ids dedup).
STUCK_EVENT_SECS = 30.0


async def requeue_stuck(deps: Deps, *, limit: int = 500) -> int:
    """Enqueue stored events that no job is processing; returns how many were enqueued."""
    cutoff = utcnow() - timedelta(seconds=STUCK_EVENT_SECS)
    async with deps.db.read() as s:
        rows = (
            await s.exec(
                select(
                    WebhookEvent.id,
                    WebhookEvent.event_type,
                    WebhookEvent.conversation_id,
                    WebhookEvent.call_sid,
                )
                .where(WebhookEvent.status == "received", col(WebhookEvent.received_at) < cutoff)
                .order_by(col(WebhookEvent.id))
                .limit(limit)
            )
        ).all()
    enqueued = 0
    for event_id, event_type, conversation_id, call_sid in rows:
        assert event_id is not None
        job_id = keys.event_job_id(event_type, conversation_id or call_sid, event_id)
        # A distinct id from the live path's, so a finished twin's id does not block it.
        if await deps.enqueue(keys.JOB_PROCESS_EVENT, event_id, job_id=f"{job_id}:sweep{event_id}"):
            enqueued += 1
    return enqueued
