"""The long-lived clients of a process (worker, web, CLI), built once and passed down.

`Deps` is the one container: the worker's jobs get it from arq's ctx, the web's routes through
the `Annotated` dependencies of `web/deps.py`, commands build their own. What only the web needs
(its metrics, the event writer, the recordings store) sits beside it in `web/state.AppState`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from redis.asyncio import Redis

from orchestrator import keys
from orchestrator.domain.calendar import Calendar, calendar_from
from orchestrator.limiter.burst import BurstAdvisor
from orchestrator.limiter.pacing import TokenBucket
from orchestrator.limiter.slots import SlotLimiter
from orchestrator.limiter.waiter import SlotWaiter
from orchestrator.providers.elevenlabs import ElevenLabsClient
from orchestrator.providers.twilio import TwilioDialer
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.group_commit import GroupCommit


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
    burst: BurstAdvisor
    #: Group commit of the dialer's small, urgent writes (claims, dial records).
    commits: GroupCommit
    #: Group commit of end-of-call bookkeeping (heavier; smaller batches).
    bookkeeping: GroupCommit
    queue: Any = None
    #: Our own Twilio client, for campaigns with `dial_mode = "twilio"` (None: not configured).
    twilio: TwilioDialer | None = None
    #: Real time (Unix seconds): stored timestamps, lease deadlines, pacing.
    clock: Callable[[], float] = field(default=time.time)
    #: The calendar calling windows are read against (real time unless pinned or sped up).
    calendar: Calendar = field(default_factory=Calendar)

    def now(self) -> datetime:
        """Real now as an aware UTC datetime, from `clock` (what timestamps store)."""
        return datetime.fromtimestamp(self.clock(), UTC)

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


def build_deps(
    settings: Settings,
    redis: Redis,
    *,
    queue: Any = None,
    db: Database | None = None,
    provider_transport: httpx.AsyncBaseTransport | None = None,
) -> Deps:
    """Create every client from the settings (the caller closes them with `close_deps`).

    Args:
        redis: the process's Redis client (the caller owns and closes it).
        queue: an arq `ArqRedis` to enqueue jobs with (a worker's own connection; the web's pool).
        db: the database to use, when the caller opens it with options of its own (the web's
            writes go first); by default one is opened from `settings.database_url`.
        provider_transport: the HTTP transport of the provider's client (tests pass the sandbox
            app in process, `httpx.ASGITransport`); by default real HTTP.
    """
    db = db if db is not None else Database(settings.database_url)
    return Deps(
        settings=settings,
        db=db,
        redis=redis,
        provider=ElevenLabsClient(
            base_url=settings.effective_base_url,
            api_key=settings.effective_api_key,
            timeout=settings.provider_timeout_secs,
            transport=provider_transport,
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
        burst=BurstAdvisor(redis, db, settings),
        commits=GroupCommit(db),
        bookkeeping=GroupCommit(db, max_batch=16),
        queue=queue,
        twilio=_twilio_dialer(settings),
        calendar=calendar_from(settings.clock_start, settings.clock_anchor, settings.clock_rate),
    )


def _twilio_dialer(settings: Settings) -> TwilioDialer | None:
    twilio = settings.effective_twilio
    if twilio is None:
        return None
    sid, token, base_url = twilio
    return TwilioDialer(sid, token, base_url=base_url, timeout=settings.provider_timeout_secs)


async def close_deps(deps: Deps) -> None:
    """Close what `build_deps` opened (not the Redis connection, which the caller owns)."""
    if deps.twilio is not None:
        await deps.twilio.aclose()
    await deps.waiter.stop()
    await deps.commits.aclose()
    await deps.bookkeeping.aclose()
    await deps.provider.aclose()
    await deps.db.dispose()
