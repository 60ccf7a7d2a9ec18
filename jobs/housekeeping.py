"""Background loops of a worker: dispatching, polling, reconciling, reaping expired leases.

They run in every worker process; compare-and-set transitions make that safe, so scaling out
needs no leader election. Each loop survives its own errors (logged) and stops on cancel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import structlog

from orchestrator.deps import Deps
from orchestrator.dialing.reconcile import reconcile_unknown
from orchestrator.lifecycle import release_orphans, settle_unfinished
from orchestrator.lifecycle.notify import deliver_due
from orchestrator.personalization.refresher import Refresher
from orchestrator.recordings.store import FolderStorage
from orchestrator.scheduling.control import sweep_canceled
from orchestrator.scheduling.dispatcher import dispatch_once, requeue_stale
from orchestrator.scheduling.unusable import park_unusable
from orchestrator.tracking.events import requeue_stuck
from orchestrator.tracking.missing_audio import fetch_missing
from orchestrator.tracking.poller import merge_adopted, poll_stale, recover_lost_leases

log = structlog.get_logger(__name__)

#: Lease housekeeping needs no haste: leases last the longest call plus a margin.
LEASE_INTERVAL_SECS = 5.0


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


async def _each(name: str, *steps: Callable[[], Awaitable[object]]) -> None:
    """Run every step, in order; a step that fails is logged and the next one still runs."""
    for index, step in enumerate(steps):
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("housekeeping.failed", loop=name, step=index)


def start_loops(
    deps: Deps, *, dispatch_interval: float, poll_interval: float
) -> list[asyncio.Task[None]]:
    """Start the loops; the caller cancels the returned tasks on shutdown."""
    storage = FolderStorage(deps.settings.audio_dir)

    async def dispatch() -> None:
        await dispatch_once(deps)

    async def reconcile() -> None:
        # The dialer decides each unknown dial's fate; tracking then reads the adopted calls.
        done = await reconcile_unknown(deps)
        await merge_adopted(deps, done.adopted)

    async def poll() -> None:
        # Each step on its own: one that fails (logged) never keeps the others from running.
        await _each(
            "poll",
            lambda: poll_stale(deps),
            reconcile,
            lambda: requeue_stale(deps),
            lambda: sweep_canceled(deps.db),
            lambda: settle_unfinished(deps),
            lambda: park_unusable(deps),
        )

    async def leases() -> None:
        # Order matters: first re-take the slots of live calls whose leases lapsed, then free
        # what no call holds, then drop expired leases from scopes nobody acquires in any more.
        await recover_lost_leases(deps)
        await release_orphans(deps)
        await deps.limiter.sweep(now=deps.clock())

    async def recordings() -> None:
        await fetch_missing(deps, storage)
        await requeue_stuck(deps)

    async def notifications() -> None:
        # One HTTP client for the loop's life, closed when the loop is canceled.
        async with httpx.AsyncClient(timeout=10.0) as http:

            async def send() -> None:
                await deliver_due(deps, http)

            await _every("notify", poll_interval, send)

    # Precomputed answers of the inbound personalization webhook, kept within seconds of a
    # change to a contact, a context (an outcome), a campaign or the configuration.
    refresher = Refresher(deps.settings, deps.db, deps.redis, deps.box)

    return [
        # On a timer, not on every release: the dispatcher keeps a headroom of dial jobs
        # already waiting, and they, not the dispatcher, take a freed slot.
        asyncio.create_task(_every("dispatch", dispatch_interval, dispatch)),
        asyncio.create_task(_every("poll", poll_interval, poll)),
        asyncio.create_task(_every("leases", max(poll_interval, LEASE_INTERVAL_SECS), leases)),
        asyncio.create_task(_every("recordings", poll_interval, recordings)),
        asyncio.create_task(notifications()),
        asyncio.create_task(
            _every("personalization", deps.settings.personalization_refresh_secs, refresher.step)
        ),
    ]
