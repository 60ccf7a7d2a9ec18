"""Webhook intake: store the verified raw event durably, enqueue its processing — nothing slow.

The request handler verifies the body while receiving it (`tracking/receive.py`) and then calls
`ingest_post_call`; processing happens in the worker (`tracking/events.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from orchestrator.errors import ValidationFailed
from orchestrator.tracking.event_writer import EventWriter, PendingEvent
from orchestrator.tracking.receive import Received

log = structlog.get_logger(__name__)

KNOWN_TYPES = ("post_call_transcription", "post_call_audio", "call_initiation_failure")
#: Events that say the call is over at the provider (its slots are free there).
ENDING_TYPES = frozenset(("post_call_transcription", "call_initiation_failure"))

#: Called with the conversation id of a call that ended, before its event is stored.
OnEnded = Callable[[str], Awaitable[Any]]


@dataclass(frozen=True)
class Ingested:
    """A stored event and whether its processing was enqueued."""

    event_id: int
    event_type: str
    conversation_id: str | None
    enqueued: bool


def parse_envelope(body: bytes) -> tuple[str, str | None, int | None, dict[str, Any]]:
    """The (type, conversation id, event timestamp, data) of a webhook body.

    Raises:
        ValidationFailed: not JSON, not an object, no known type, or no data object.
    """
    try:
        # orjson: this parse is the largest cost of accepting a webhook (about 30 KB each).
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed([("body", f"malformed JSON: {exc}")]) from exc
    if not isinstance(payload, dict):
        raise ValidationFailed([("body", "expected a JSON object")])
    event_type = payload.get("type")
    if event_type not in KNOWN_TYPES:
        raise ValidationFailed([("type", f"unknown event type {event_type!r}")])
    data = payload.get("data")
    if not isinstance(data, dict):
        raise ValidationFailed([("data", "expected an object")])
    conversation_id = data.get("conversation_id")
    if conversation_id is not None and not isinstance(conversation_id, str):
        raise ValidationFailed([("data.conversation_id", "expected a string")])
    ts = payload.get("event_timestamp")
    return event_type, conversation_id, ts if isinstance(ts, int) else None, data


async def ingest_post_call(
    writer: EventWriter, received: Received, *, on_ended: OnEnded | None = None
) -> Ingested:
    """Store and enqueue one verified post-call webhook (see `tracking/receive.py`).

    `on_ended` frees the slots of a call whose end this event reports, before the event is
    stored and long before a worker processes it: the next dial need not wait for either. It
    is a shortcut only (the worker frees them too), so its failure is logged and ignored.

    Raises:
        ValidationFailed: a verified body we cannot use; it is stored for inspection first.
    """
    body = received.body
    try:
        event_type, conversation_id, ts, _data = parse_envelope(body)
    except ValidationFailed as exc:
        await writer.store(
            PendingEvent("invalid", None, None, body, status="invalid", error=str(exc))
        )
        raise
    if on_ended is not None and conversation_id and event_type in ENDING_TYPES:
        try:
            await on_ended(conversation_id)
        except Exception as exc:  # Redis down: the worker frees the slots when it processes
            log.warning("webhook.early_release_failed", error=type(exc).__name__)
    stored = await writer.store(
        PendingEvent(event_type, conversation_id, ts, body, body_path=received.audio_location)
    )
    return Ingested(stored.event_id, event_type, conversation_id, stored.enqueued)
