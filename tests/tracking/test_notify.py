"""CRM notifications: written with the final disposition, signed, retried, dead-lettered."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlmodel import select

from orchestrator.runtime import Deps, build_deps, close_deps
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, DeadLetter, Notification, WebhookEvent
from orchestrator.tracking import notify
from orchestrator.tracking.events import process_event
from tests.factories import make_campaign, make_contact
from tests.servers import serve


@pytest.fixture
async def deps(settings: Settings, db: Database, fake_redis: Any) -> AsyncIterator[Deps]:
    built = build_deps(settings, fake_redis)
    yield built
    await close_deps(built)


def crm_app(received: list[tuple[bytes, dict[str, str]]], status: list[int]) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Any:
        received.append((await request.body(), dict(request.headers)))
        from fastapi.responses import JSONResponse

        return JSONResponse({}, status_code=status[0])

    return app


async def finish_a_call(db: Database, deps: Deps, url: str) -> None:
    campaign = await make_campaign(
        db, config={"notifications": {"url": url, "secret_env": "CRM_HOOK_SECRET"}}
    )
    _, attempt = await make_contact(db, campaign, attempt_state="initiated")
    assert attempt is not None
    async with db.session() as s:
        row = await s.get(Attempt, attempt.id)
        assert row is not None
        row.conversation_id = "conv_n"
        data = {
            "conversation_id": "conv_n",
            "status": "done",
            "metadata": {"call_duration_secs": 42},
            "analysis": {"call_successful": "success", "transcript_summary": "Renewed."},
        }
        event = WebhookEvent(
            event_type="post_call_transcription",
            conversation_id="conv_n",
            body=json.dumps({"type": "post_call_transcription", "data": data}).encode(),
        )
        s.add(event)
        await s.flush()
        event_id = event.id
    assert event_id is not None
    await process_event(deps, event_id)


async def test_final_disposition_is_delivered_signed(
    db: Database, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_HOOK_SECRET", "crm-secret")
    received: list[tuple[bytes, dict[str, str]]] = []
    async with serve(crm_app(received, [200])) as url, httpx.AsyncClient() as http:
        await finish_a_call(db, deps, f"{url}/hook")
        assert await notify.deliver_due(deps, http) == 1
        # Delivered notifications are not sent again.
        assert await notify.deliver_due(deps, http) == 0
    assert len(received) == 1
    body, headers = received[0]
    payload = json.loads(body)
    assert payload["disposition"] == "reached"
    assert payload["summary"] == "Renewed."
    assert payload["external_id"] == "crm-1"
    t, v1 = (part.split("=", 1)[1] for part in headers["x-orchestrator-signature"].split(","))
    expected = hmac.new(b"crm-secret", f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(v1, expected)


async def test_failures_back_off_then_dead_letter(db: Database, deps: Deps) -> None:
    received: list[tuple[bytes, dict[str, str]]] = []
    async with serve(crm_app(received, [500])) as url, httpx.AsyncClient() as http:
        await finish_a_call(db, deps, f"{url}/hook")
        assert await notify.deliver_due(deps, http) == 0
        async with db.session() as s:
            row = (await s.exec(select(Notification))).one()
            assert (row.status, row.tries, row.last_error) == ("pending", 1, "HTTP 500")
            assert row.next_attempt_at > row.created_at
            # Not due yet: nothing is sent before the backoff has passed.
        assert await notify.deliver_due(deps, http) == 0
        assert len(received) == 1
        async with db.session() as s:
            row = (await s.exec(select(Notification))).one()
            row.tries = notify.MAX_TRIES - 1
            row.next_attempt_at = row.created_at
        await notify.deliver_due(deps, http)
    async with db.session() as s:
        row = (await s.exec(select(Notification))).one()
        dead = (await s.exec(select(DeadLetter))).all()
    assert row.status == "dead"
    assert len(dead) == 1
    assert dead[0].source == "crm-notification"
    assert "HTTP 500" in dead[0].reason
