"""A sandbox on loopback, a real redis-server, and the worker's dependencies built for them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from arq import create_pool
from arq.connections import RedisSettings
from redis.asyncio import Redis

from orchestrator.deps import Deps, build_deps, close_deps
from orchestrator.dev.sandbox.config import SandboxConfig
from orchestrator.dev.sandbox.server import RunningSandbox, running
from orchestrator.settings import Settings
from orchestrator.store.engine import Database

StackFactory = Callable[..., AbstractAsyncContextManager[tuple[Deps, RunningSandbox]]]

#: The calendar every dialing test reads: a Tuesday, 11:00 in Los Angeles and 14:00 in New York,
#: so the test numbers' calling windows are open whatever the real time.
OPEN_HOURS = datetime(2025, 3, 4, 19, 0, tzinfo=UTC)


@pytest.fixture
def stack(settings: Settings, db: Database, redis_server: str, real_redis: Redis) -> StackFactory:
    """Start a sandbox with the given knobs and build `Deps` that dial it."""

    @asynccontextmanager
    async def make(
        *, settings_update: dict[str, Any] | None = None, **sandbox: Any
    ) -> AsyncIterator[tuple[Deps, RunningSandbox]]:
        config = SandboxConfig(port=0, time_scale=0.001, seed=1, **sandbox)
        async with running(config) as sb:
            host, port = sb.base_url.removeprefix("http://").split(":")
            resolved = settings.model_copy(
                update={
                    "redis_url": redis_server,
                    "sandbox_host": host,
                    "sandbox_port": int(port),
                    "provider_timeout_secs": 1.0,
                    "calls_per_second": 1000.0,
                    "clock_start": OPEN_HOURS,
                    **(settings_update or {}),
                }
            )
            queue = await create_pool(
                RedisSettings.from_dsn(redis_server), default_queue_name=resolved.queue_name
            )
            deps = build_deps(resolved, queue, queue=queue)
            try:
                yield deps, sb
            finally:
                await close_deps(deps)
                await queue.aclose()

    return make


async def sandbox_dials(sb: RunningSandbox) -> list[dict[str, Any]]:
    """The sandbox's dial log, through its HTTP API."""
    async with httpx.AsyncClient(base_url=sb.base_url) as http:
        dials: list[dict[str, Any]] = (await http.get("/sandbox/dials")).json()["dials"]
        return dials


async def sandbox_summary(sb: RunningSandbox) -> dict[str, Any]:
    """The sandbox's counters, through its HTTP API."""
    async with httpx.AsyncClient(base_url=sb.base_url) as http:
        summary: dict[str, Any] = (await http.get("/sandbox/summary")).json()
        return summary
