"""Group commit of webhook events: one writer per web process, one INSERT per batch.

Hundreds of webhooks a second each opening their own write transaction make SQLite's
connections queue on its single write lock, sleeping in the busy handler; with a group commit the
requests wait on an asyncio future instead, and one transaction stores everything that arrived
meanwhile. A request is answered only after its event is committed and its job enqueued, so
"accepted" still means "durably stored".
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import insert
from sqlmodel import col

from orchestrator import keys
from orchestrator.queueing import BatchEnqueuer, JobSpec
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.group_commit import Batcher
from orchestrator.store.models import WebhookEvent
from orchestrator.store.types import utcnow

log = structlog.get_logger(__name__)

MAX_BATCH = 256


@dataclass(frozen=True)
class PendingEvent:
    """An event to store; `status` is `received` (to process) or `invalid` (kept to inspect)."""

    event_type: str
    conversation_id: str | None
    event_timestamp: int | None
    body: bytes
    body_path: str | None = None
    status: str = "received"
    error: str | None = None
    source: str = "elevenlabs"
    call_sid: str | None = None
    #: Distinguishes several events of one type for one call (Twilio: the CallStatus).
    job_suffix: str = ""


@dataclass(frozen=True)
class StoredEvent:
    """The stored row's id and whether its processing job was newly enqueued."""

    event_id: int
    enqueued: bool


class EventWriter:
    """Collects events from concurrent requests and commits them together (`store.group_commit`)."""

    def __init__(self, db: Database, queue: Any, settings: Settings) -> None:
        self._db = db
        self._queue = queue
        self._settings = settings
        self._enqueuer = BatchEnqueuer(queue, settings.queue_name)
        self._batcher: Batcher[PendingEvent, StoredEvent] = Batcher(
            self._flush, max_batch=MAX_BATCH, name="event-writer"
        )

    async def start(self) -> None:
        """Nothing to start: the flusher starts with the first event."""

    async def stop(self) -> None:
        """Write everything queued, then stop (nothing accepted is dropped on shutdown)."""
        await self._batcher.aclose()

    async def store(self, event: PendingEvent) -> StoredEvent:
        """Store one event (with the next batch) and enqueue its processing."""
        return await self._batcher.submit(event)

    async def _flush(self, batch: list[tuple[PendingEvent, asyncio.Future[StoredEvent]]]) -> int:
        results = await self._write([event for event, _ in batch])
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
        return len(batch)

    async def _write(self, events: list[PendingEvent]) -> list[StoredEvent]:
        now = utcnow()
        rows = [
            {
                "source": e.source,
                "call_sid": e.call_sid,
                "event_type": e.event_type,
                "conversation_id": e.conversation_id,
                "event_timestamp": e.event_timestamp,
                "body": e.body,
                "body_path": e.body_path,
                "status": e.status,
                "error": e.error,
                "received_at": now,
            }
            for e in events
        ]
        async with self._db.session() as s:
            result = await s.exec(
                insert(WebhookEvent).returning(col(WebhookEvent.id), sort_by_parameter_order=True),
                params=rows,
            )
            ids = [int(row[0]) for row in result.all()]

        specs = [
            JobSpec(
                keys.JOB_PROCESS_EVENT,
                (event_id,),
                keys.event_job_id(e.event_type, e.conversation_id or e.call_sid, event_id)
                + e.job_suffix,
            )
            for e, event_id in zip(events, ids, strict=True)
            if e.status == "received"
        ]
        added = iter(await self._enqueuer.enqueue(specs))
        return [
            StoredEvent(event_id, next(added) if e.status == "received" else False)
            for e, event_id in zip(events, ids, strict=True)
        ]
