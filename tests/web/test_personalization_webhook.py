"""`POST /webhooks/elevenlabs/personalization` served on loopback: hits, misses, defaults,
refusals, and never a 5xx — with Redis down or the database too slow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from redis.asyncio import Redis

from orchestrator.domain.persona import Persona
from orchestrator.personalization.record_reader import RecordReader
from orchestrator.personalization.refresher import Refresher
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.web.app import create_app
from tests.conftest import AGENT
from tests.support.factories import make_campaign, make_contact
from tests.support.ports import free_port
from tests.support.servers import serve

PATH = "/webhooks/elevenlabs/personalization"
HEADER = "X-Personalization-Secret"
SECRET = "s3cret-personalization"
KNOWN = "+14155550123"
STRANGER = "+14155550999"
TYPE = "conversation_initiation_client_data"


@dataclass
class Hook:
    http: httpx.AsyncClient
    app: FastAPI
    settings: Settings
    db: Database
    redis: Redis

    async def call(self, caller: str = KNOWN, **changes: Any) -> httpx.Response:
        body = {
            "caller_id": caller,
            "agent_id": AGENT,
            "called_number": "+14155550100",
            "call_sid": "CA0001",
            **changes,
        }
        return await self.http.post(PATH, json=body, headers={HEADER: SECRET})

    async def metric(self, name: str) -> float:
        """The value of one sample on /metrics (0 when absent)."""
        for line in (await self.http.get("/metrics")).text.splitlines():
            head, _, value = line.rpartition(" ")
            if head == name:
                return float(value)
        return 0.0


@pytest.fixture
async def hook(
    settings: Settings, db: Database, redis_server: str, real_redis: Redis
) -> AsyncIterator[Hook]:
    resolved = settings.model_copy(
        update={
            "redis_url": redis_server,
            "secret_keys": [SecretStr(SecretBox.generate_key())],
            "personalization_secrets": [SecretStr("old-one"), SecretStr(SECRET)],
            "personas": {
                "unknown_caller": Persona(agent_id=AGENT, first_message="Who is calling?"),
            },
        }
    )
    campaign = await make_campaign(db, "spring")
    await make_contact(db, campaign, "crm-1", KNOWN, attempt_state=None)
    app = create_app(resolved)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield Hook(http, app, resolved, db, real_redis)


async def _rebuild(hook: Hook) -> None:
    await Refresher(hook.settings, hook.db, hook.redis, hook.app.state.orch.deps.box).rebuild()


async def test_precomputed_answer_is_served_on_a_hit(hook: Hook) -> None:
    await _rebuild(hook)
    response = await hook.call()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["type"] == TYPE
    assert answer["user_id"] == "crm-1"
    assert answer["dynamic_variables"]["customer_name"] == "Ada"
    assert set(hook.settings.agent(AGENT).variables) <= set(answer["dynamic_variables"])
    assert await hook.metric('orchestrator_personalization_lookups_total{result="hit"}') == 1


async def test_a_miss_is_answered_from_the_database_and_not_cached(hook: Hook) -> None:
    answer = (await hook.call()).json()
    assert answer["user_id"] == "crm-1"
    assert await hook.metric('orchestrator_personalization_lookups_total{result="miss"}') == 1
    assert await hook.redis.dbsize() == 0


async def test_unknown_caller_gets_defaults_and_the_unknown_persona(hook: Hook) -> None:
    await _rebuild(hook)
    before = await hook.redis.dbsize()
    answer = (await hook.call(STRANGER)).json()
    assert answer["type"] == TYPE
    assert "user_id" not in answer
    assert answer["dynamic_variables"]["customer_name"] == "unknown"
    assert answer["dynamic_variables"]["last_call_summary"] == "none"
    assert answer["conversation_config_override"] == {"agent": {"first_message": "Who is calling?"}}
    assert await hook.redis.dbsize() == before
    assert await hook.metric("orchestrator_personalization_unknown_total") == 1


@pytest.mark.parametrize(
    ("headers", "content", "status", "error"),
    [
        ({}, b"{}", 401, "unauthorized"),
        ({HEADER: "nope"}, b"{}", 401, "unauthorized"),
        ({HEADER: SECRET}, b"{not json", 400, "invalid_json"),
        ({HEADER: SECRET}, b'{"caller_id": "12"}', 422, "invalid_request"),
        # E.164-shaped but in no number plan: refused on the miss, before the database.
        (
            {HEADER: SECRET},
            orjson.dumps(
                {
                    "caller_id": "+99912345678",
                    "agent_id": AGENT,
                    "called_number": "+14155550100",
                    "call_sid": "CA1",
                }
            ),
            422,
            "invalid_request",
        ),
        ({HEADER: SECRET}, b"x" * 9000, 413, "body_too_large"),
    ],
)
async def test_bad_requests_get_a_reason_and_leave_nothing_behind(
    hook: Hook, headers: dict[str, str], content: bytes, status: int, error: str
) -> None:
    response = await hook.http.post(PATH, content=content, headers=headers)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert await hook.redis.dbsize() == 0
    counted = f'orchestrator_personalization_rejections_total{{status="{status}"}}'
    assert await hook.metric(counted) == 1


async def test_oversized_chunked_body_is_refused(hook: Hook) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 1000

    response = await hook.http.post(PATH, content=chunks(), headers={HEADER: SECRET})
    assert response.status_code == 413


async def test_missing_fields_are_each_named(hook: Hook) -> None:
    response = await hook.http.post(PATH, json={"agent_id": AGENT}, headers={HEADER: SECRET})
    fields = {p["field"] for p in response.json()["problems"]}
    assert fields == {"caller_id", "called_number", "call_sid"}


async def test_redis_down_answers_the_defaults(hook: Hook) -> None:
    personalizer = hook.app.state.personalization.personalizer
    alive = personalizer.redis
    personalizer.redis = RecordReader(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    try:
        response = await hook.call()
    finally:
        await personalizer.redis.close()
        personalizer.redis = alive
    assert response.status_code == 200
    assert response.json()["dynamic_variables"]["customer_name"] == "unknown"
    assert await hook.metric('orchestrator_personalization_fallbacks_total{reason="redis"}') == 1


async def test_database_past_the_budget_answers_the_defaults(
    hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    personalizer = hook.app.state.personalization.personalizer
    stuck = asyncio.Event()

    async def slow(_agent: str, _caller: str) -> bytes:
        await stuck.wait()  # never set: only the budget ends it
        return b"{}"

    monkeypatch.setattr(personalizer, "_from_database", slow)
    monkeypatch.setattr(personalizer, "budget", 0.05)
    response = await hook.call()
    assert response.status_code == 200
    assert "user_id" not in response.json()
    assert await hook.metric('orchestrator_personalization_fallbacks_total{reason="budget"}') == 1


async def test_an_unexpected_error_still_answers_200_with_defaults(
    hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_body: bytes) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(hook.app.state.personalization.gate, "parse", broken)
    response = await hook.call()
    assert response.status_code == 200
    assert orjson.loads(response.content)["type"] == TYPE


async def test_version_is_static_json(hook: Hook) -> None:
    response = await hook.http.get("/version")
    assert response.status_code == 200
    assert set(response.json()) == {"version"}
