"""Long-lived clients of a worker or web process, built once and passed down."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from orchestrator import keys
from orchestrator.limiter.pacing import TokenBucket
from orchestrator.limiter.slots import SlotLimiter
from orchestrator.limiter.waiter import SlotWaiter
from orchestrator.providers.elevenlabs import ElevenLabsClient
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store.engine import Database


@dataclass
class Deps:
    """What the stages need; `queue` is an arq `ArqRedis` (enqueue_job) or None in web."""

    settings: Settings
    db: Database
    redis: Redis
    provider: ElevenLabsClient
    limiter: SlotLimiter
    waiter: SlotWaiter
    pacing: TokenBucket
    box: SecretBox
    queue: Any = None
    clock: Callable[[], float] = field(default=time.time)

    async def enqueue(self, name: str, *args: Any, job_id: str, defer: float = 0) -> bool:
        """Enqueue an arq job; False when one with that id is already queued or running."""
        if self.queue is None:
            raise RuntimeError("no arq queue configured in this process")
        job = await self.queue.enqueue_job(
            name,
            *args,
            _job_id=job_id,
            _queue_name=self.settings.queue_name,
            _defer_by=defer or None,
        )
        return job is not None


def build_deps(settings: Settings, redis: Redis, *, queue: Any = None) -> Deps:
    """Create every client from the settings (the caller closes them with `close_deps`)."""
    return Deps(
        settings=settings,
        db=Database(settings.database_url),
        redis=redis,
        provider=ElevenLabsClient(
            base_url=settings.effective_base_url,
            api_key=settings.effective_api_key,
            timeout=settings.provider_timeout_secs,
        ),
        limiter=SlotLimiter(redis),
        waiter=SlotWaiter(redis),
        pacing=TokenBucket(
            redis,
            keys.pacing_bucket(),
            rate=settings.calls_per_second,
            capacity=max(1.0, settings.calls_per_second),
        ),
        box=SecretBox([k.get_secret_value() for k in settings.secret_keys]),
        queue=queue,
    )


async def close_deps(deps: Deps) -> None:
    """Close what `build_deps` opened (not the Redis connection, which the caller owns)."""
    await deps.waiter.stop()
    await deps.provider.aclose()
    await deps.db.dispose()
