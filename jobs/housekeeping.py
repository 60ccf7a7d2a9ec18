"""Background loops of a worker: dispatching, polling, reconciling, reaping expired leases.

They run in every worker process; compare-and-set transitions make that safe, so scaling out
needs no leader election. Each loop survives its own errors (logged) and stops on cancel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import structlog

from orchestrator.runtime import Deps
from orchestrator.scheduling.dispatcher import dispatch_once, requeue_stale
from orchestrator.storage import FolderStorage
from orchestrator.tracking.notify import deliver_due
from orchestrator.tracking.poller import poll_stale, reconcile_unknown
from orchestrator.tracking.recordings import fetch_missing

log = structlog.get_logger(__name__)


async def _every(
    name: str,
    interval: float,
    step: Callable[[], Awaitable[object]],
    wake: Callable[[float], Awaitable[bool]] | None = None,
) -> None:
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("housekeeping.failed", loop=name)
        if wake is not None:
            await wake(interval)
        else:
            await asyncio.sleep(interval)


def start_loops(
    deps: Deps, *, dispatch_interval: float, poll_interval: float
) -> list[asyncio.Task[None]]:
    """Start the loops; the caller cancels the returned tasks on shutdown."""

    async def dispatch() -> None:
        await dispatch_once(deps)

    async def poll() -> None:
        await poll_stale(deps)
        await reconcile_unknown(deps)
        await requeue_stale(deps)

    storage = FolderStorage(deps.settings.audio_dir)
    notifier = httpx.AsyncClient(timeout=10.0)

    async def outbox() -> None:
        # CRM notifications and recordings whose audio webhook never came.
        await deliver_due(deps, notifier)
        await fetch_missing(deps, storage)

    async def closing_outbox() -> None:
        try:
            await _every("outbox", max(1.0, poll_interval), outbox)
        finally:
            await notifier.aclose()

    return [
        asyncio.create_task(_every("dispatch", dispatch_interval, dispatch, deps.waiter.wait)),
        asyncio.create_task(_every("poll", poll_interval, poll)),
        asyncio.create_task(closing_outbox()),
    ]
