"""The post-call webhook over real HTTP: verified, stored, enqueued; refused when not signed."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlmodel import select

from orchestrator.domain import signing
from orchestrator.settings import SANDBOX_WEBHOOK_SECRET, Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import WebhookEvent
from orchestrator.web.app import create_app
from tests.support.servers import serve

PATH = "/webhooks/elevenlabs/post-call"


def _body(conversation_id: str = "conv_1", kind: str = "post_call_transcription") -> bytes:
    payload: dict[str, Any] = {
        "type": kind,
        "event_timestamp": int(time.time()),
        "data": {"conversation_id": conversation_id, "agent_id": "agent_test", "status": "done"},
    }
    return json.dumps(payload).encode()


async def _events(db: Database) -> list[WebhookEvent]:
    async with db.session() as s:
        return list((await s.exec(select(WebhookEvent))).all())


async def _queued(redis: Redis, settings: Settings) -> int:
    return int(await redis.zcard(settings.queue_name))


async def test_signed_event_is_stored_and_enqueued(
    settings: Settings, db: Database, redis_server: str, real_redis: Redis
) -> None:
    settings = settings.model_copy(update={"redis_url": redis_server})
    body = _body()
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as http:
        header = signing.sign(SANDBOX_WEBHOOK_SECRET, int(time.time()), body)
        response = await http.post(PATH, content=body, headers={signing.HEADER: header})
        assert response.status_code == 200, response.text
        # The same event delivered again is stored but its processing job is not duplicated.
        again = await http.post(PATH, content=body, headers={signing.HEADER: header})
        assert again.status_code == 200
    events = await _events(db)
    assert [e.event_type for e in events] == ["post_call_transcription"] * 2
    assert events[0].conversation_id == "conv_1"
    assert events[0].body == body
    assert await _queued(real_redis, settings) == 1


async def test_bad_signatures_get_401_and_nothing_is_stored(
    settings: Settings, db: Database, redis_server: str, real_redis: Redis
) -> None:
    settings = settings.model_copy(update={"redis_url": redis_server})
    body = _body()
    now = int(time.time())
    cases = {
        "missing": {},
        "forged": {signing.HEADER: signing.sign("not-the-secret", now, body)},
        "stale": {signing.HEADER: signing.sign(SANDBOX_WEBHOOK_SECRET, now - 31 * 60, body)},
        "future": {signing.HEADER: signing.sign(SANDBOX_WEBHOOK_SECRET, now + 10 * 60, body)},
        "garbage": {signing.HEADER: "nonsense"},
        "other body": {signing.HEADER: signing.sign(SANDBOX_WEBHOOK_SECRET, now, b"{}")},
    }
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as http:
        for name, headers in cases.items():
            response = await http.post(PATH, content=body, headers=headers)
            assert response.status_code == 401, name
            assert response.json()["error"] == "invalid_signature"
    assert await _events(db) == []
    assert await _queued(real_redis, settings) == 0


async def test_verified_but_malformed_is_400_and_kept_for_inspection(
    settings: Settings, db: Database, redis_server: str, real_redis: Redis
) -> None:
    settings = settings.model_copy(update={"redis_url": redis_server})
    now = int(time.time())
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as http:
        for body, field in ((b"{not json", "body"), (_body(kind="mystery"), "type")):
            header = signing.sign(SANDBOX_WEBHOOK_SECRET, now, body)
            response = await http.post(PATH, content=body, headers={signing.HEADER: header})
            assert response.status_code == 400
            assert response.json()["problems"][0]["field"] == field
    events = await _events(db)
    assert [e.status for e in events] == ["invalid", "invalid"]
    assert await _queued(real_redis, settings) == 0


async def test_healthz_checks_redis_and_database(
    settings: Settings, db: Database, redis_server: str
) -> None:
    settings = settings.model_copy(update={"redis_url": redis_server})
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as http:
        response = await http.get("/healthz")
        metrics = await http.get("/metrics")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "redis": "ok", "database": "ok"}
    assert "orchestrator_webhooks_accepted_total" in metrics.text


async def test_audio_event_streams_to_the_audio_folder(
    settings: Settings, db: Database, redis_server: str, real_redis: Redis
) -> None:
    import base64
    import os
    from collections.abc import AsyncIterator

    settings = settings.model_copy(update={"redis_url": redis_server})
    audio = os.urandom(3 * 1024 * 1024)
    payload = {
        "type": "post_call_audio",
        "event_timestamp": int(time.time()),
        "data": {
            "agent_id": "agent_test",
            "conversation_id": "conv_audio",
            "full_audio": base64.b64encode(audio).decode(),
        },
    }
    body = json.dumps(payload).encode()
    header = signing.sign(SANDBOX_WEBHOOK_SECRET, int(time.time()), body)

    async def chunked() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 256 * 1024):
            yield body[i : i + 256 * 1024]

    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as http:
        response = await http.post(PATH, content=chunked(), headers={signing.HEADER: header})
    assert response.status_code == 200, response.text
    stored = settings.audio_dir / "conv_audio.mp3"
    assert stored.read_bytes() == audio
    events = await _events(db)
    assert len(events) == 1
    assert events[0].body_path == str(stored)
    assert len(events[0].body) < 1000  # the database keeps the envelope, not the recording
    assert await _queued(real_redis, settings) == 1


async def test_metrics_show_shared_state(
    settings: Settings, db: Database, redis_server: str, real_redis: Redis
) -> None:
    from orchestrator.limiter.slots import Scope, SlotLimiter
    from orchestrator.metrics import count

    settings = settings.model_copy(update={"redis_url": redis_server})
    limiter = SlotLimiter(real_redis)
    account = Scope("account", "main", 2)
    now = time.time()
    for member in ("1", "2", "3"):
        got = await limiter.acquire(member, account, [], account_cap=6, now=now, lease_secs=600)
        assert got.ok
    await count(real_redis, "dials_total", 5)
    await count(real_redis, "provider_429_total")
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as http:
        text = (await http.get("/metrics")).text
    assert 'orchestrator_calls_in_flight{scope="account"} 3.0' in text
    assert "orchestrator_burst_calls_in_flight 1.0" in text
    assert 'orchestrator_events_total{event="dials"} 5.0' in text
    assert 'orchestrator_events_total{event="provider_429"} 1.0' in text
    assert "orchestrator_reconciliation_backlog 0.0" in text
