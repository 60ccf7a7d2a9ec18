"""arq `WorkerSettings` (the Procfile's `worker:`) and the worker's lifecycle.

`orchestrator worker` and `arq jobs.worker.WorkerSettings` both run this. Clients are built once in
`startup` and closed in `shutdown`; only this package touches arq's ctx.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from arq import cron  # noqa: F401  (re-exported for deployments adding their own crons)
from arq.connections import RedisSettings
from arq.worker import Worker, func

from jobs import tasks
from jobs.housekeeping import start_loops
from orchestrator import keys
from orchestrator.logs import configure_logging
from orchestrator.runtime import build_deps, close_deps
from orchestrator.settings import Settings, load_settings


async def startup(ctx: dict[str, Any]) -> None:
    """Build the clients once per worker process and start the background loops."""
    settings: Settings = ctx.get("settings") or load_settings()
    configure_logging(settings)
    deps = build_deps(settings, ctx["redis"], queue=ctx["redis"])
    await deps.waiter.start()
    ctx["deps"] = deps
    ctx["loops"] = start_loops(
        deps,
        dispatch_interval=ctx.get("dispatch_interval", 0.5),
        poll_interval=ctx.get("poll_interval", min(10.0, settings.poll_after_secs / 2)),
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    """Stop the loops and close the clients."""
    for task in ctx.get("loops", []):
        task.cancel()
    for task in ctx.get("loops", []):
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if "deps" in ctx:
        await close_deps(ctx["deps"])


def functions() -> list[Any]:
    """The job functions with their per-function options."""
    return [
        # keep_result=0 frees the job id when the job ends, so an attempt handed back to the
        # dispatcher can be queued again; while queued or running, its id dedups.
        func(tasks.dial_attempt, name=keys.JOB_DIAL, keep_result=0, max_tries=3, timeout=120),
        func(
            tasks.process_webhook_event,
            name=keys.JOB_PROCESS_EVENT,
            keep_result=0,
            max_tries=tasks.UNMATCHED_TRIES + 2,
            timeout=300,
        ),
        func(tasks.enqueue_call, name=keys.JOB_ENQUEUE_CALL, keep_result=3600, max_tries=5),
    ]


def worker_options(settings: Settings, **ctx: Any) -> dict[str, Any]:
    """Keyword arguments for `arq.worker.Worker` from the settings."""
    return {
        "functions": functions(),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": settings.queue_name,
        # Dial jobs wait for slots as cheap coroutines: allow many at once.
        "max_jobs": max(200, 4 * settings.account_limit),
        "poll_delay": 0.05,
        "handle_signals": True,
        "ctx": {"settings": settings, **ctx},
    }


def make_worker(settings: Settings, **ctx: Any) -> Worker:
    """A worker for `settings` (used by `orchestrator worker` and the tests)."""
    return Worker(**worker_options(settings, **ctx))


class WorkerSettings:
    """For `arq jobs.worker.WorkerSettings`; settings come from the environment."""

    functions = functions()
    on_startup = startup
    on_shutdown = shutdown
    max_jobs = 200
    poll_delay = 0.05

    _settings = load_settings()
    redis_settings = RedisSettings.from_dsn(_settings.redis_url)
    queue_name = _settings.queue_name
