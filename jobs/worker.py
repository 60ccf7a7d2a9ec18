"""arq `WorkerSettings` (the Procfile's `worker:`) and the worker's lifecycle.

`orchestrator worker` and `arq jobs.worker.WorkerSettings` both run this. Clients are built once in
`startup` and closed in `shutdown`; only this package touches arq's ctx.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from arq import cron  # noqa: F401  (re-exported for deployments adding their own crons)
from arq.worker import Worker, func
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from jobs import tasks
from jobs.housekeeping import start_loops
from orchestrator import keys
from orchestrator.deps import build_deps, close_deps
from orchestrator.errors import UnsignedNotifications
from orchestrator.lifecycle.notify import check_signing
from orchestrator.logs import configure_logging
from orchestrator.redis_conn import redis_settings
from orchestrator.settings import Settings
from orchestrator.settings_errors import exit_invalid, load_or_exit

log = structlog.get_logger(__name__)


async def startup(ctx: dict[str, Any]) -> None:
    """Build the clients once per worker process and start the background loops."""
    settings: Settings = ctx.get("settings") or load_or_exit()
    configure_logging(settings)
    deps = build_deps(settings, ctx["redis"], queue=ctx["redis"])
    ctx["deps"] = deps
    try:
        # The worker sends CRM notifications: in prod it never starts unable to sign them.
        await check_signing(deps.db, settings)
    except UnsignedNotifications as exc:
        await close_deps(deps)
        exit_invalid(exc)
    await deps.waiter.start()
    ctx["loops"] = start_loops(
        deps,
        dispatch_interval=ctx.get("dispatch_interval", 0.25),
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
            # Short: a job held by a crashed worker stays locked until timeout + 10 s.
            timeout=60,
        ),
        # keep_result=0: arq's result holds the job's arguments, and this job's payload may
        # carry `secret__` values; nothing may keep them in clear (the payload itself is deleted
        # when the job ends). Re-sending a payload is harmless: the upsert is idempotent.
        func(tasks.enqueue_call, name=keys.JOB_ENQUEUE_CALL, keep_result=0, max_tries=5),
    ]


def worker_options(settings: Settings, **ctx: Any) -> dict[str, Any]:
    """Keyword arguments for `arq.worker.Worker` from the settings."""
    return {
        "functions": functions(),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": redis_settings(settings.redis_url),
        "queue_name": settings.queue_name,
        # Dial jobs wait for slots as cheap coroutines: allow many at once.
        "max_jobs": max(200, 4 * settings.account_limit),
        "poll_delay": 0.02,
        # Jobs arq fails itself (a producer's misspelt function, too many tries) keep a result
        # with their arguments for this long: none, for the reason given in `functions`.
        "keep_result": 0,
        "handle_signals": True,
        "ctx": {"settings": settings, **ctx},
    }


class OrchestratorWorker(Worker):
    """arq's worker, minus re-examining on every poll the jobs it is running itself.

    arq leaves a running job in its queue until the job ends and, on each poll, checks every job
    it reads there with a Redis transaction. Dial jobs wait for slots and live a while, so dozens
    of them would be re-checked 20 times a second; the ones this process runs are skipped here.
    """

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """Start the jobs of `job_ids` that this worker is not already running."""
        running = self.tasks
        fresh = [j for j in job_ids if (j.decode() if isinstance(j, bytes) else j) not in running]
        for job_id in fresh:
            try:
                await super().start_jobs([job_id])
            except (WatchError, RedisConnectionError, RedisTimeoutError) as exc:
                # Redis went away while arq was claiming this job (a restart, a failover): arq
                # lets the error kill the worker and keeps the job's slot taken. Give the slot
                # back and leave this job and the rest queued: the next poll (whose commands
                # retry until Redis is back) takes them.
                self.job_counter -= 1
                self.sem.release()
                log.warning("worker.poll_interrupted", error=type(exc).__name__)
                return


def make_worker(settings: Settings, **ctx: Any) -> Worker:
    """A worker for `settings` (used by `orchestrator worker` and the tests)."""
    return OrchestratorWorker(**worker_options(settings, **ctx))


class WorkerSettings:
    """For `arq jobs.worker.WorkerSettings`; settings come from the environment."""

    functions = functions()
    on_startup = startup
    on_shutdown = shutdown
    max_jobs = 200
    poll_delay = 0.02
    keep_result = 0  # see `worker_options`

    # `arq jobs.worker.WorkerSettings` imports this class: say what is wrong (each field, no
    # value, no traceback) and stop.
    _settings = load_or_exit()
    redis_settings = redis_settings(_settings.redis_url)
    queue_name = _settings.queue_name
