"""Webhook intake frees an ended call's slots early, and never lets that shortcut lose an event."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import col, select

from orchestrator.errors import ValidationFailed
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import WebhookEvent
from orchestrator.tracking.event_writer import EventWriter
from orchestrator.tracking.ingest import ingest_post_call
from orchestrator.tracking.receive import Received

CONV = "conv_ended_1"


@pytest.fixture
async def writer(settings: Settings, db: Database, fake_redis: Any) -> AsyncIterator[EventWriter]:
    """The web process's group-commit writer, on the test database and fakeredis."""
    events = EventWriter(db, fake_redis, settings)
    await events.start()
    yield events
    await events.stop()


class Ended:
    """Records the conversation ids it is called with (and what was stored at that moment)."""

    def __init__(self, db: Database, error: Exception | None = None) -> None:
        self.db = db
        self.error = error
        self.calls: list[str] = []
        self.stored_before: list[int] = []

    async def __call__(self, conversation_id: str) -> bool:
        self.calls.append(conversation_id)
        async with self.db.read() as s:
            self.stored_before.append(len((await s.exec(select(WebhookEvent.id))).all()))
        if self.error is not None:
            raise self.error
        return True


def body(kind: str, conversation_id: str | None = CONV) -> bytes:
    data: dict[str, Any] = {"agent_id": "agent_test"}
    if conversation_id is not None:
        data["conversation_id"] = conversation_id
    return json.dumps({"type": kind, "event_timestamp": 1_700_000_100, "data": data}).encode()


async def stored_events(db: Database) -> list[tuple[str, str | None, str]]:
    async with db.read() as s:
        rows = (await s.exec(select(WebhookEvent).order_by(col(WebhookEvent.id)))).all()
    return [(r.event_type, r.conversation_id, r.status) for r in rows]


@pytest.mark.parametrize("kind", ["post_call_transcription", "call_initiation_failure"])
async def test_an_ending_event_reports_its_conversation_before_it_is_stored(
    writer: EventWriter, db: Database, kind: str
) -> None:
    ended = Ended(db)
    result = await ingest_post_call(writer, Received(body=body(kind)), on_ended=ended)
    assert ended.calls == [CONV]
    assert ended.stored_before == [0]
    assert (result.event_type, result.conversation_id, result.enqueued) == (kind, CONV, True)
    assert await stored_events(db) == [(kind, CONV, "received")]


async def test_audio_does_not_report_an_end(writer: EventWriter, db: Database) -> None:
    ended = Ended(db)
    received = Received(body=body("post_call_audio"), audio_location="audio/conv.mp3")
    result = await ingest_post_call(writer, received, on_ended=ended)
    assert ended.calls == []
    assert result.event_type == "post_call_audio"
    assert await stored_events(db) == [("post_call_audio", CONV, "received")]


async def test_an_ending_event_without_a_conversation_id_reports_nothing(
    writer: EventWriter, db: Database
) -> None:
    ended = Ended(db)
    await ingest_post_call(
        writer, Received(body=body("call_initiation_failure", None)), on_ended=ended
    )
    assert ended.calls == []
    assert await stored_events(db) == [("call_initiation_failure", None, "received")]


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"type": "post_call_transcription", "data": "x"}).encode(),
        json.dumps({"type": "conversation_started", "data": {"conversation_id": CONV}}).encode(),
        json.dumps({"type": "post_call_transcription", "data": {"conversation_id": 7}}).encode(),
    ],
)
async def test_an_invalid_body_reports_nothing_and_is_kept_as_invalid(
    writer: EventWriter, db: Database, raw: bytes
) -> None:
    ended = Ended(db)
    with pytest.raises(ValidationFailed):
        await ingest_post_call(writer, Received(body=raw), on_ended=ended)
    assert ended.calls == []
    assert await stored_events(db) == [("invalid", None, "invalid")]


@pytest.mark.parametrize("error", [ConnectionError("redis down"), RuntimeError("boom")])
async def test_a_failing_early_release_still_stores_the_event(
    writer: EventWriter, db: Database, error: Exception
) -> None:
    ended = Ended(db, error)
    result = await ingest_post_call(
        writer, Received(body=body("post_call_transcription")), on_ended=ended
    )
    assert ended.calls == [CONV]
    assert result.enqueued and result.conversation_id == CONV
    assert await stored_events(db) == [("post_call_transcription", CONV, "received")]
