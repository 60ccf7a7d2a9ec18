"""Group commit of webhook events: every event stored once, jobs deduplicated, drained on stop."""

from __future__ import annotations

import asyncio

from arq import create_pool
from arq.connections import RedisSettings
from redis.asyncio import Redis
from sqlmodel import select

from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import WebhookEvent
from orchestrator.tracking.event_writer import EventWriter, PendingEvent


async def test_concurrent_events_are_stored_and_enqueued_once(
    settings: Settings, db: Database, redis_server: str, real_redis: Redis
) -> None:
    queue = await create_pool(RedisSettings.from_dsn(redis_server))
    writer = EventWriter(db, queue, settings)
    await writer.start()
    try:
        events = [
            PendingEvent("post_call_transcription", f"conv_{i % 150}", 1, b"{}") for i in range(300)
        ]
        stored = await asyncio.gather(*(writer.store(e) for e in events))
        invalid = await writer.store(
            PendingEvent("invalid", None, None, b"x", status="invalid", error="bad")
        )
        late = asyncio.create_task(
            writer.store(PendingEvent("call_initiation_failure", "c", 1, b"{}"))
        )
        await asyncio.sleep(0)
    finally:
        await writer.stop()
    assert late.done() and late.result().enqueued
    assert len({s.event_id for s in stored}) == 300
    # 150 conversations, each delivered twice: the second delivery is stored but not re-enqueued.
    assert sum(s.enqueued for s in stored) == 150
    assert not invalid.enqueued
    async with db.read() as s:
        rows = (await s.exec(select(WebhookEvent))).all()
    assert len(rows) == 302
    assert await real_redis.zcard(settings.queue_name) == 151
    await queue.aclose()


async def test_events_never_enqueued_are_swept_up(
    settings: Settings, db: Database, redis_server: str, real_redis: Redis
) -> None:
    from datetime import timedelta

    from orchestrator.deps import build_deps, close_deps
    from orchestrator.store.types import utcnow
    from orchestrator.tracking.events import requeue_stuck

    queue = await create_pool(RedisSettings.from_dsn(redis_server))
    deps = build_deps(settings, queue, queue=queue)
    old = utcnow() - timedelta(minutes=5)
    async with db.session() as s:
        s.add(
            WebhookEvent(
                event_type="post_call_transcription",
                conversation_id="c1",
                body=b"{}",
                received_at=old,
            )
        )
        s.add(WebhookEvent(event_type="post_call_transcription", conversation_id="c2", body=b"{}"))
        s.add(
            WebhookEvent(
                event_type="post_call_transcription",
                conversation_id="c3",
                body=b"{}",
                received_at=old,
                status="processed",
            )
        )
    try:
        assert await requeue_stuck(deps) == 1  # only the old, still-received one
        assert await requeue_stuck(deps) == 0  # its job is queued: not twice
    finally:
        await close_deps(deps)
        await queue.aclose()
    assert await real_redis.zcard(settings.queue_name) == 1
