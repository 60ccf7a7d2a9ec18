"""Calls placed with our own Twilio client: register-call TwiML, AMD, signed status callbacks.

The sandbox plays both the provider (register-call, post-call webhooks) and Twilio (Calls API,
status callbacks signed with X-Twilio-Signature); the web app and the dialer run for real.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
from arq import create_pool
from arq.connections import RedisSettings
from redis.asyncio import Redis
from sqlmodel import col, select

from orchestrator.deps import Deps, build_deps, close_deps
from orchestrator.dev.sandbox.config import SandboxConfig
from orchestrator.dev.sandbox.server import running, running_app
from orchestrator.dialing.dial import DialResultKind, dial_attempt
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, WebhookEvent
from orchestrator.tracking.events import process_event
from orchestrator.web.app import create_app
from tests.support.factories import make_campaign, make_contact
from tests.support.ports import free_port

OPEN_HOURS = "2026-06-02T18:00:00+00:00"  # a Tuesday, 11:00 in Los Angeles
TWILIO = {"dial_mode": "twilio", "twilio_from_number": "+14155550100"}


def outcomes(**weights: float) -> dict[str, float]:
    mix = dict.fromkeys(("success", "failure", "voicemail", "no_answer", "busy", "failed"), 0.0)
    mix.update(weights)
    return mix


@asynccontextmanager
async def twilio_stack(
    settings: Settings, redis_server: str, **sandbox: Any
) -> AsyncIterator[tuple[Deps, str]]:
    web_port = free_port()
    web_url = f"http://127.0.0.1:{web_port}"
    config = SandboxConfig(
        port=0,
        time_scale=0.001,
        seed=5,
        send_audio=False,
        webhook_url=f"{web_url}/webhooks/elevenlabs/post-call",
        **sandbox,
    )
    async with running(config) as sb:
        host, port = sb.base_url.removeprefix("http://").split(":")
        resolved = settings.model_copy(
            update={
                "redis_url": redis_server,
                "sandbox_host": host,
                "sandbox_port": int(port),
                "public_url": web_url,
                "clock_start": datetime.fromisoformat(OPEN_HOURS),
                "calls_per_second": 1000.0,
            }
        )
        async with running_app(create_app(resolved), port=web_port):
            queue = await create_pool(RedisSettings.from_dsn(redis_server))
            deps = build_deps(resolved, queue, queue=queue)
            try:
                yield deps, web_url
            finally:
                await close_deps(deps)
                await queue.aclose()


async def drain(deps: Deps, db: Database, attempt_id: int, want: str) -> Attempt:
    """Process stored events until the attempt is `want` (what the worker would do)."""
    for _ in range(200):
        async with db.read() as s:
            pending = (
                await s.exec(
                    select(WebhookEvent.id)
                    .where(col(WebhookEvent.status).in_(["received", "unmatched"]))
                    .order_by(col(WebhookEvent.id))
                )
            ).all()
            attempt = await s.get(Attempt, attempt_id)
        assert attempt is not None
        if attempt.state == want and not pending:
            return attempt
        for event_id in pending:
            assert event_id is not None
            await process_event(deps, event_id)
        await asyncio.sleep(0.05)
    return attempt


async def test_answered_call_completes_and_adopts_its_conversation(
    settings: Settings, db: Database, redis_server: str, real_redis: Redis
) -> None:
    campaign = await make_campaign(db, config={**TWILIO, "enforce_calling_hours": False})
    _, attempt = await make_contact(db, campaign, attempt_state="queued")
    assert attempt is not None and attempt.id is not None
    async with twilio_stack(settings, redis_server, **outcomes(success=1.0)) as (deps, _):
        assert await dial_attempt(deps, attempt.id) is DialResultKind.INITIATED
        async with db.read() as s:
            placed = await s.get(Attempt, attempt.id)
        assert placed is not None and placed.call_sid and placed.conversation_id is None
        final = await drain(deps, db, attempt.id, "completed")
        async with db.read() as s:
            sources = {e.source for e in (await s.exec(select(WebhookEvent))).all()}
    assert final.state == "completed"
    assert final.answered_by == "human"
    assert final.conversation_id is not None and final.conversation_id.startswith("conv_")
    assert sources == {"twilio", "elevenlabs"}


async def test_machine_answer_is_voicemail(
    settings: Settings, db: Database, redis_server: str, real_redis: Redis
) -> None:
    campaign = await make_campaign(db, config={**TWILIO, "enforce_calling_hours": False})
    _, attempt = await make_contact(db, campaign, attempt_state="queued")
    assert attempt is not None and attempt.id is not None
    async with twilio_stack(settings, redis_server, **outcomes(voicemail=1.0)) as (deps, _):
        assert await dial_attempt(deps, attempt.id) is DialResultKind.INITIATED
        final = await drain(deps, db, attempt.id, "voicemail")
    assert final.state == "voicemail"
    assert final.answered_by == "machine_end_beep"


async def test_busy_comes_from_twilio_alone(
    settings: Settings, db: Database, redis_server: str, real_redis: Redis
) -> None:
    campaign = await make_campaign(db, config={**TWILIO, "enforce_calling_hours": False})
    _, attempt = await make_contact(db, campaign, attempt_state="queued")
    assert attempt is not None and attempt.id is not None
    async with twilio_stack(settings, redis_server, **outcomes(busy=1.0)) as (deps, _):
        assert await dial_attempt(deps, attempt.id) is DialResultKind.INITIATED
        final = await drain(deps, db, attempt.id, "busy")
    assert final.state == "busy"


async def test_forged_status_callback_is_refused(
    settings: Settings, db: Database, redis_server: str, real_redis: Redis
) -> None:
    async with twilio_stack(settings, redis_server) as (_, web_url), httpx.AsyncClient() as http:
        form = {"CallSid": "CA123", "CallStatus": "completed", "AnsweredBy": "human"}
        missing = await http.post(f"{web_url}/webhooks/twilio/status", data=form)
        forged = await http.post(
            f"{web_url}/webhooks/twilio/status",
            data=form,
            headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
        )
    assert missing.status_code == 401
    assert forged.status_code == 401
    async with db.read() as s:
        assert (await s.exec(select(WebhookEvent))).all() == []
