"""Processing of stored webhook events (in the worker)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl

import orjson
import structlog
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator import keys
from orchestrator.deps import Deps
from orchestrator.domain.attempt import is_terminal
from orchestrator.domain.outcome import (
    CallFacts,
    facts_from_conversation,
    facts_from_initiation_failure,
    facts_from_twilio_status,
)
from orchestrator.lifecycle import release_slots
from orchestrator.store.models import Attempt, Campaign, Outcome, WebhookEvent
from orchestrator.store.types import utcnow
from orchestrator.tracking.merge import Merged, after_merge, merge_in

log = structlog.get_logger(__name__)


class EventResult(StrEnum):
    """What processing one event did."""

    PROCESSED = "processed"
    ALREADY = "already_processed"
    UNMATCHED = "unmatched"
    MISSING = "missing"


async def _mark(deps: Deps, event_id: int, status: str, error: str | None = None) -> None:
    async def work(s: AsyncSession) -> None:
        await s.exec(
            update(WebhookEvent)
            .where(col(WebhookEvent.id) == event_id)
            .values(status=status, error=error, processed_at=utcnow())
        )

    await deps.commits.run(work)


async def _claim_event(s: AsyncSession, event_id: int) -> bool:
    """Mark the event processed unless it is already (compare-and-set): one applier per event."""
    result: Any = await s.exec(
        update(WebhookEvent)
        .where(col(WebhookEvent.id) == event_id, col(WebhookEvent.status) != "processed")
        .values(status="processed", error=None, processed_at=utcnow())
    )
    return int(result.rowcount) == 1


async def process_event(deps: Deps, event_id: int) -> EventResult:
    """Apply one stored event to its attempt; an unknown conversation is kept as unmatched.

    The event is marked processed in the transaction that applies it (with the merge and, for
    the end of a call, the bookkeeping), so it is applied once however often its job runs.
    """
    found = await _find(deps, event_id)
    if isinstance(found, EventResult):
        return found
    event, attempt, campaign = found.event, found.attempt, found.campaign
    if attempt is None or attempt.id is None or campaign is None:
        await _mark(deps, event_id, "unmatched")
        return EventResult.UNMATCHED
    body, event_type, body_path = event.body, event.event_type, event.body_path
    conversation_id = event.conversation_id
    attempt_id = attempt.id
    facts, source = _facts_of(event_type, body)
    ends = facts is not None and is_terminal(facts.state)
    if ends:
        # The call is over at the provider: free its slots for a waiting dial before the
        # bookkeeping (idempotent; a crash after this leaves the event to be processed again).
        await release_slots(deps, attempt_id, campaign, attempt.phone_number)
    adopt = conversation_id if attempt.conversation_id is None else None

    async def work(s: AsyncSession) -> Merged | bool | None:
        if not await _claim_event(s, event_id):
            return False
        if adopt:
            await s.exec(
                update(Attempt)
                .where(col(Attempt.id) == attempt_id, col(Attempt.conversation_id).is_(None))
                .values(conversation_id=adopt)
            )
        if facts is not None:
            return await merge_in(deps, s, attempt_id, facts, source)
        if event_type == "post_call_audio" and body_path:
            await _link_audio(s, attempt_id, conversation_id or "", body_path)
        return None

    # Through the group commit: the events of many calls share one transaction.
    merged = await deps.bookkeeping.run(work)
    if merged is False:
        return EventResult.ALREADY
    if isinstance(merged, Merged):
        await after_merge(deps, merged, released=ends)
    return EventResult.PROCESSED


@dataclass
class _Found:
    event: WebhookEvent
    attempt: Attempt | None
    campaign: Campaign | None


async def _find(deps: Deps, event_id: int) -> _Found | EventResult:
    """The event with its attempt and campaign (a read, outside the write lock)."""
    async with deps.db.quick() as s:
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
        campaign = await s.get(Campaign, attempt.campaign_id) if attempt is not None else None
    return _Found(event, attempt, campaign)


def _facts_of(event_type: str, body: bytes) -> tuple[CallFacts | None, str]:
    """The call facts an event carries (None: it carries none, e.g. audio) and their source."""
    if event_type == "twilio_status":
        return facts_from_twilio_status(dict(parse_qsl(body.decode()))), "twilio"
    if event_type == "post_call_transcription":
        return facts_from_conversation(orjson.loads(body)["data"]), "webhook"
    if event_type == "call_initiation_failure":
        return facts_from_initiation_failure(orjson.loads(body)["data"]), "webhook"
    return None, "webhook"


def _call_sid_of(body: bytes) -> str | None:
    """`data.metadata.phone_call.call_sid` of a provider event, if any."""
    try:
        data = json.loads(body).get("data") or {}
        sid = ((data.get("metadata") or {}).get("phone_call") or {}).get("call_sid")
    except (ValueError, AttributeError):
        return None
    return str(sid) if sid else None


async def _link_audio(
    s: AsyncSession, attempt_id: int, conversation_id: str, location: str
) -> None:
    """Point the attempt's outcome at its stored recording (the webhook streamed it there)."""
    # The attempt's row lock orders us with a concurrent merge (see `merge_in`), which
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
