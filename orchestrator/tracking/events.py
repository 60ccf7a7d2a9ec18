"""Processing of stored webhook events (in the worker)."""

from __future__ import annotations

import asyncio
import base64
import json
from enum import StrEnum
from pathlib import Path

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
        body, event_type = event.body, event.event_type
    if attempt is None or attempt.id is None:
        await _mark(deps, event_id, "unmatched")
        return EventResult.UNMATCHED
    data = json.loads(body)["data"]
    if event_type == "post_call_transcription":
        await merge_facts(deps, attempt.id, facts_from_conversation(data), "webhook")
    elif event_type == "call_initiation_failure":
        await merge_facts(deps, attempt.id, facts_from_initiation_failure(data), "webhook")
    elif event_type == "post_call_audio":
        await _store_audio(deps, attempt.id, event.conversation_id or "", data)
    await _mark(deps, event_id, "processed")
    return EventResult.PROCESSED


def _write_audio(folder: Path, conversation_id: str, audio: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{conversation_id}.mp3"
    path.write_bytes(base64.b64decode(audio))
    return path


async def _store_audio(
    deps: Deps, attempt_id: int, conversation_id: str, data: dict[str, object]
) -> None:
    audio = data.get("full_audio")
    if not isinstance(audio, str) or not audio:
        return
    path = await asyncio.to_thread(
        _write_audio, Path(deps.settings.audio_dir), conversation_id, audio
    )
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
        outcome.audio_path = str(path)
        s.add(outcome)
