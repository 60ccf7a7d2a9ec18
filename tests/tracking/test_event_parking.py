"""A stored webhook event whose processing fails the same way again and again is parked with its
reason; the sweep stops retrying it, and the other events are processed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from jobs import tasks
from orchestrator.deps import Deps, build_deps, close_deps
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, WebhookEvent
from orchestrator.store.types import utcnow
from orchestrator.tracking.events import requeue_stuck
from tests.tracking.test_event_once import transcription_body
from tests.tracking.test_merge import CONV, live_attempt, store


class Queue:
    """Records the jobs enqueued (what the stored-event sweep would hand to arq)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, tuple[Any, ...]]] = []

    async def enqueue_job(self, name: str, *args: Any, **_: Any) -> object:
        self.jobs.append((name, args))
        return object()


@pytest.fixture
async def deps(settings: Settings, db: Database, fake_redis: Any) -> AsyncIterator[Deps]:
    built = build_deps(settings.model_copy(update={"park_after_failures": 3}), fake_redis)
    built.queue = Queue()
    yield built
    await close_deps(built)


async def _event(db: Database, event_id: int) -> WebhookEvent:
    async with db.session() as s:
        row = await s.get(WebhookEvent, event_id)
        assert row is not None
        return row


async def test_an_event_that_always_fails_is_parked_and_the_rest_processed(
    deps: Deps, db: Database
) -> None:
    _, attempt_id = await live_attempt(db, deps)
    # Verified and stored, yet unusable (old data, a future bug): no `data` object.
    poison = await store(db, "post_call_transcription", b'{"type": "post_call_transcription"}')
    ctx = {"deps": deps, "job_try": 1}
    for _ in range(2):
        with pytest.raises(KeyError):
            await tasks.process_webhook_event(ctx, poison)
        assert (await _event(db, poison)).status == "received"
    assert await tasks.process_webhook_event(ctx, poison) == "parked"
    parked = await _event(db, poison)
    assert (parked.status, parked.failures) == ("parked", 3)
    assert parked.error is not None and parked.error.startswith("KeyError")

    # The sweep of stored events no longer hands it back to a worker...
    async with db.session() as s:
        await s.exec(update(WebhookEvent).values(received_at=utcnow() - timedelta(minutes=5)))
    await requeue_stuck(deps)
    assert deps.queue.jobs == []
    # ...and the call's real end is processed as usual.
    good = await store(db, "post_call_transcription", transcription_body(CONV, "success"))
    assert await tasks.process_webhook_event(ctx, good) == "processed"
    async with db.session() as s:
        attempt = await s.get(Attempt, attempt_id)
    assert attempt is not None and attempt.state == "completed"
    assert (await _event(db, good)).status == "processed"
