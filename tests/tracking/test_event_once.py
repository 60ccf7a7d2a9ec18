"""One stored event is applied once, however many jobs process it at the same time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import col, select

from orchestrator.deps import Deps, build_deps, close_deps
from orchestrator.limiter.scopes import scopes_for
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import (
    Attempt,
    Campaign,
    Contact,
    Notification,
    Outcome,
    WebhookEvent,
)
from orchestrator.tracking.events import EventResult, process_event
from tests.tracking.test_merge import CONV, live_attempt, store

CRM_HOOK = "https://crm.example.com/hooks/final"


@pytest.fixture
async def deps(settings: Settings, db: Database, fake_redis: Any) -> AsyncIterator[Deps]:
    built = build_deps(settings, fake_redis)
    yield built
    await close_deps(built)


def transcription_body(conversation_id: str, call_successful: str) -> bytes:
    data = {
        "agent_id": "agent_test",
        "conversation_id": conversation_id,
        "status": "done",
        "transcript": [{"role": "agent", "message": "Hello", "tool_calls": []}],
        "metadata": {"call_duration_secs": 42, "cost": 100, "termination_reason": "hangup"},
        "analysis": {"call_successful": call_successful, "transcript_summary": "Talked."},
    }
    envelope = {"type": "post_call_transcription", "event_timestamp": 1_700_000_100, "data": data}
    return json.dumps(envelope).encode()


async def slot_holders(deps: Deps, campaign: Campaign) -> list[str]:
    scopes = scopes_for(deps.settings, campaign, "+14155550123")
    return await deps.limiter.holders(scopes.account, now=deps.clock())


@pytest.mark.parametrize(
    ("call_successful", "config", "retried"),
    [
        ("success", {"notifications": {"url": CRM_HOOK}}, False),
        ("failure", {"retry": {"delay_secs": {"failure": 600.0}}}, True),
    ],
)
async def test_concurrent_jobs_of_one_event_apply_it_once(
    deps: Deps, db: Database, call_successful: str, config: dict[str, Any], retried: bool
) -> None:
    campaign, attempt_id = await live_attempt(db, deps, config=config)
    event_id = await store(db, "post_call_transcription", transcription_body(CONV, call_successful))

    racing = await asyncio.gather(process_event(deps, event_id), process_event(deps, event_id))
    late = await process_event(deps, event_id)

    assert sorted(racing) == sorted([EventResult.PROCESSED, EventResult.ALREADY])
    assert late is EventResult.ALREADY
    async with db.read() as s:
        attempts = (await s.exec(select(Attempt).order_by(col(Attempt.id)))).all()
        outcomes = (await s.exec(select(Outcome))).all()
        contact = (await s.exec(select(Contact))).one()
        event = await s.get(WebhookEvent, event_id)
        notifications = (await s.exec(select(Notification))).all()
    assert event is not None and event.status == "processed"
    assert [o.attempt_id for o in outcomes] == [attempt_id]
    assert outcomes[0].sources == {"webhook": 1}
    assert outcomes[0].call_successful == call_successful
    first = attempts[0]
    assert (first.id, first.state, first.retry_planned) == (attempt_id, "completed", True)
    assert await slot_holders(deps, campaign) == []
    if retried:
        assert [(a.seq, a.state) for a in attempts] == [(1, "completed"), (2, "scheduled")]
        assert contact.disposition == "pending"
        assert notifications == []
    else:
        assert len(attempts) == 1
        assert (contact.disposition, contact.disposition_detail) == ("reached", "success")
        assert [(n.attempt_id, n.url) for n in notifications] == [(attempt_id, CRM_HOOK)]


async def test_an_event_for_an_unknown_conversation_is_unmatched_and_touches_no_attempt(
    deps: Deps, db: Database
) -> None:
    campaign, attempt_id = await live_attempt(db, deps, config={})
    event_id = await store(
        db, "post_call_transcription", transcription_body("x", "success"), "conv_someone_else"
    )

    assert await process_event(deps, event_id) is EventResult.UNMATCHED

    async with db.read() as s:
        event = await s.get(WebhookEvent, event_id)
        attempts = (await s.exec(select(Attempt))).all()
        outcomes = (await s.exec(select(Outcome))).all()
        contact = (await s.exec(select(Contact))).one()
    assert event is not None and event.status == "unmatched"
    assert [(a.id, a.state, a.conversation_id, a.retry_planned) for a in attempts] == [
        (attempt_id, "initiated", CONV, False)
    ]
    assert outcomes == []
    assert contact.disposition == "pending"
    # The live call keeps its slots.
    assert await slot_holders(deps, campaign) == [str(attempt_id)]
