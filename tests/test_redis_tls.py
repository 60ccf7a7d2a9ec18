"""Every Redis connection honours a `rediss://` URL's TLS options, against a real redis-server
serving TLS on a self-signed certificate made here (Heroku Redis' situation).

With `?ssl_cert_reqs=none` the arq worker path, the web's pool (the limiter's Lua scripts), the
personalization reader and the CLI connect and work; `?ssl_ca_certs=` verifies against the given
CA; without either the connection is refused at once with "certificate verify failed" and what to
change, never retried as if Redis were down.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from arq import create_pool
from arq.worker import Worker, func
from redis.exceptions import ConnectionError as RedisConnectionError
from typer.testing import CliRunner

from jobs.worker import worker_options
from orchestrator.errors import InvalidSettings, RedisUnavailable
from orchestrator.limiter.slots import Scope
from orchestrator.main import app as cli
from orchestrator.personalization.record_reader import RecordReader
from orchestrator.redis_conn import redis_client
from orchestrator.settings import Settings
from orchestrator.settings_errors import load_checked
from orchestrator.store.engine import Database
from orchestrator.web.app import create_app
from tests.support.servers import serve

#: A guard against hanging only (a refused certificate used to be retried for minutes).
PROMPTLY = 30.0


@pytest.fixture
def unverified(tls_redis_server: tuple[str, Path]) -> str:
    return f"{tls_redis_server[0]}?ssl_cert_reqs=none"


@pytest.fixture
async def tls_settings(
    settings: Settings, db: Database, unverified: str
) -> AsyncIterator[Settings]:
    yield settings.model_copy(update={"redis_url": unverified, "queue_name": "tls:queue"})


async def test_the_arq_worker_path_works_over_tls_with_ssl_cert_reqs_none(
    tls_settings: Settings,
) -> None:
    """An enqueuer and the worker, with the worker's own connection settings."""
    connection = worker_options(tls_settings)["redis_settings"]
    done: list[str] = []

    async def echo(ctx: dict[str, Any], word: str) -> str:
        done.append(word)
        return word

    pool = await asyncio.wait_for(create_pool(connection), PROMPTLY)
    try:
        assert await pool.enqueue_job("echo", "over-tls", _queue_name=tls_settings.queue_name)
    finally:
        await pool.aclose()
    worker = Worker(
        functions=[func(echo, name="echo", keep_result=0)],
        redis_settings=connection,
        queue_name=tls_settings.queue_name,
        burst=True,
        handle_signals=False,
        poll_delay=0.05,
    )
    try:
        await asyncio.wait_for(worker.main(), PROMPTLY)
    finally:
        await worker.close()
    assert done == ["over-tls"]


async def test_the_web_and_its_limiter_work_over_tls_with_ssl_cert_reqs_none(
    tls_settings: Settings,
) -> None:
    app = create_app(tls_settings)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        health = await http.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["redis"] == "ok"
        slots = app.state.orch.slots
        account = Scope("account", "tls", 1)
        taken = await slots.acquire(7, account, [], account_cap=1, now=1.0, lease_secs=60)
        assert taken.ok
        refused = await slots.acquire(8, account, [], account_cap=1, now=1.0, lease_secs=60)
        assert not refused.ok  # the Lua script ran in Redis: the one slot is held
        assert await slots.release(7, [account])


async def test_the_personalization_reader_works_over_tls(
    tls_redis_server: tuple[str, Path],
) -> None:
    base, ca_file = tls_redis_server
    writer = redis_client(f"{base}?ssl_cert_reqs=none")
    try:
        await writer.set("tls:record", b"answer")
    finally:
        await writer.aclose()
    for url in (f"{base}?ssl_cert_reqs=none", f"{base}?ssl_ca_certs={ca_file}"):
        reader = RecordReader(url, timeout=5.0)
        try:
            assert await reader.get("tls:record") == b"answer", url
        finally:
            await reader.close()


async def test_the_cli_works_over_tls(tls_settings: Settings, unverified: str) -> None:
    env = {"ORCH_REDIS_URL": unverified, "ORCH_DATABASE_URL": tls_settings.database_url}
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["personalization", "rebuild"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "personalization records written" in result.output


async def test_a_given_ca_verifies_the_server(tls_redis_server: tuple[str, Path]) -> None:
    base, ca_file = tls_redis_server
    client = redis_client(f"{base}?ssl_ca_certs={ca_file}")
    try:
        assert await client.ping()
    finally:
        await client.aclose()


async def test_an_unverifiable_certificate_is_refused_at_once_and_explained(
    settings: Settings, tls_redis_server: tuple[str, Path]
) -> None:
    base, _ = tls_redis_server
    worker_side = worker_options(settings.model_copy(update={"redis_url": base}))
    with pytest.raises(RedisConnectionError) as arq_error:
        await asyncio.wait_for(create_pool(worker_side["redis_settings"]), PROMPTLY)
    client = redis_client(base)
    try:
        with pytest.raises(RedisConnectionError) as client_error:
            await asyncio.wait_for(client.ping(), PROMPTLY)
    finally:
        await client.aclose()
    reader = RecordReader(base, timeout=5.0)
    try:
        with pytest.raises(RedisUnavailable) as reader_error:
            await reader.get("anything")
    finally:
        await reader.close()
    for error in (arq_error.value, client_error.value, reader_error.value):
        assert "certificate verify failed" in str(error)
        assert "ssl_cert_reqs=none" in str(error)  # what to change


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("ssl_cert_reqs=nope", "ssl_cert_reqs"),
        ("ssl_cert_req=none", "ssl_cert_req"),  # a typo is not ignored
        ("ssl_check_hostname=maybe", "ssl_check_hostname"),
    ],
)
def test_a_bad_tls_option_is_a_settings_error(query: str, named: str) -> None:
    url = f"rediss://:hunter2-PLANTED@127.0.0.1:6380/0?{query}"
    with pytest.raises(InvalidSettings) as caught:
        load_checked(_env_file=None, redis_url=url)
    assert "redis_url" in str(caught.value) and named in str(caught.value)
    assert "hunter2-PLANTED" not in str(caught.value)


def test_tls_options_on_a_plain_url_are_refused() -> None:
    with pytest.raises(InvalidSettings, match="rediss://"):
        load_checked(_env_file=None, redis_url="redis://127.0.0.1:6379/0?ssl_cert_reqs=none")
