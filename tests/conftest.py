"""Shared fixtures: a migrated SQLite database per test, a real redis-server per session,
fakeredis for fast unit tests, and factories for campaigns and contacts."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from orchestrator.dev.stack import redis_reachable
from orchestrator.domain.variables import AgentConfig, AgentVariable
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.migrate import upgrade
from tests.support.ports import free_port

AGENT = "agent_test"

#: Fixtures kept in their own modules (`tls_redis_server`).
pytest_plugins = ("tests.support.tls",)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings isolated from the environment and config files of the machine."""
    return Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'test.db'}",
        agent_id=AGENT,
        audio_dir=tmp_path / "audio",
        agents={
            AGENT: AgentConfig(
                variables={
                    "customer_name": AgentVariable(type="string"),
                    "balance": AgentVariable(type="number", default=0),
                    "visits": AgentVariable(type="integer", default=0),
                    "vip": AgentVariable(type="boolean", default=False),
                }
            )
        },
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    """A fresh database at the head migration."""
    await upgrade(settings.database_url)
    database = Database(settings.database_url)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server for the whole session; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (make test installs it)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    wait_started(proc, url, "redis-server")
    yield url
    proc.terminate()
    proc.wait(10)


def wait_started(proc: subprocess.Popen[bytes], url: str, what: str, timeout: float = 10) -> None:
    """Wait until the redis-server `proc` answers at `url` (killing it if it never does)."""
    deadline = time.monotonic() + timeout
    while not redis_reachable(url):
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{what} did not start")
        time.sleep(0.05)


@pytest.fixture
async def real_redis(redis_server: str) -> AsyncIterator[Redis]:
    """A client of the real redis-server, flushed before each test."""
    client: Redis = Redis.from_url(redis_server)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def fake_redis() -> AsyncIterator[Any]:
    """fakeredis with Lua, for fast unit tests."""
    import fakeredis

    client = fakeredis.FakeAsyncRedis()
    yield client
    await client.aclose()
