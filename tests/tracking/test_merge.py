"""Events in any order, any number of times: the same final record, one retry, no leaked slot."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import col, select

from orchestrator.deps import Deps, build_deps, close_deps
from orchestrator.domain.attempt import AttemptState
from orchestrator.domain.outcome import facts_from_conversation
from orchestrator.limiter.scopes import scopes_for
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Campaign, Contact, DoNotCall, Outcome, WebhookEvent
from orchestrator.tracking.events import EventResult, process_event
from orchestrator.tracking.merge import merge_facts
from tests.support.factories import make_campaign, make_contact

CONV = "conv_test_1"


@pytest.fixture
async def deps(settings: Settings, db: Database, fake_redis: Any) -> AsyncIterator[Deps]:
    built = build_deps(settings, fake_redis)
    yield built
    await close_deps(built)


def transcription(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "agent_id": "agent_test",
        "conversation_id": CONV,
        "status": "done",
        "user_id": "crm-1",
        "transcript": [{"role": "agent", "message": "Hi", "tool_calls": []}],
        "metadata": {
            "start_time_unix_secs": 1_700_000_000,
            "call_duration_secs": 95,
            "cost": 633,
            "termination_reason": "end_call tool was called",
            "charging": {"is_burst": False},
        },
        "analysis": {
            "call_successful": "success",
            "transcript_summary": "Agreed to renew.",
            "data_collection_results": {
                "interested": {"data_collection_id": "interested", "value": True}
            },
            "evaluation_criteria_results": {"goal": {"criteria_id": "goal", "result": "success"}},
        },
        "has_audio": True,
    }
    data.update(overrides)
    return data


def envelope(kind: str, data: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "event_timestamp": 1_700_000_100, "data": data}).encode()


async def live_attempt(db: Database, deps: Deps, **campaign_fields: Any) -> tuple[Campaign, int]:
    campaign = await make_campaign(db, **campaign_fields)
    _, attempt = await make_contact(db, campaign, attempt_state="initiated")
    assert attempt is not None and attempt.id is not None
    async with db.session() as s:
        row = await s.get(Attempt, attempt.id)
        assert row is not None
        row.conversation_id = CONV
    scopes = scopes_for(deps.settings, campaign, attempt.phone_number)
    got = await deps.limiter.acquire(
        attempt.id, scopes.account, scopes.others, account_cap=5, now=deps.clock(), lease_secs=600
    )
    assert got.ok
    return campaign, attempt.id


async def store(db: Database, kind: str, body: bytes, conversation_id: str = CONV) -> int:
    async with db.session() as s:
        event = WebhookEvent(event_type=kind, conversation_id=conversation_id, body=body)
        s.add(event)
        await s.flush()
        assert event.id is not None
        return event.id


async def snapshot(db: Database) -> dict[str, Any]:
    async with db.session() as s:
        attempts = (await s.exec(select(Attempt).order_by(col(Attempt.id)))).all()
        outcome = (await s.exec(select(Outcome))).one()
        contact = (await s.exec(select(Contact))).one()
    return {
        "states": [a.state for a in attempts],
        "outcome": (
            outcome.state,
            outcome.call_successful,
            outcome.transcript_summary,
            outcome.duration_secs,
            outcome.cost_credits,
            outcome.has_audio,
            outcome.data_collection,
            outcome.evaluation,
        ),
        "disposition": (contact.disposition, contact.disposition_detail),
        "summary": contact.last_summary,
    }


ORDERS = list(itertools.permutations(["progress", "transcription", "duplicate", "audio"]))


@pytest.mark.parametrize("order", ORDERS[::3])
async def test_any_order_gives_the_same_final_record(
    db: Database, deps: Deps, order: tuple[str, ...]
) -> None:
    campaign, attempt_id = await live_attempt(db, deps)
    audio = base64.b64encode(b"ID3fake-mp3").decode()
    bodies = {
        "transcription": envelope("post_call_transcription", transcription()),
        "duplicate": envelope("post_call_transcription", transcription()),
        "audio": envelope(
            "post_call_audio", {"agent_id": "a", "conversation_id": CONV, "full_audio": audio}
        ),
    }
    for step in order:
        if step == "progress":
            await merge_facts(
                deps, attempt_id, facts_from_conversation({"status": "in-progress"}), "poll"
            )
            continue
        kind = "post_call_audio" if step == "audio" else "post_call_transcription"
        event_id = await store(db, kind, bodies[step])
        assert await process_event(deps, event_id) is EventResult.PROCESSED
        # Processing the same stored event again is a no-op.
        assert await process_event(deps, event_id) is EventResult.ALREADY

    final = await snapshot(db)
    assert final == {
        "states": ["completed"],
        "outcome": (
            "completed",
            "success",
            "Agreed to renew.",
            95.0,
            633.0,
            True,
            {"interested": True},
            {"goal": "success"},
        ),
        "disposition": ("reached", "success"),
        "summary": "Agreed to renew.",
    }
    scopes = scopes_for(deps.settings, campaign, "+14155550123")
    assert await deps.limiter.holders(scopes.account, now=deps.clock()) == []


async def test_a_retryable_end_plans_exactly_one_retry(db: Database, deps: Deps) -> None:
    await live_attempt(db, deps)
    failure = envelope(
        "call_initiation_failure",
        {
            "agent_id": "a",
            "conversation_id": CONV,
            "failure_reason": "no-answer",
            "metadata": {"type": "twilio", "body": {"CallStatus": "no-answer"}},
        },
    )
    for _ in range(3):
        event_id = await store(db, "call_initiation_failure", failure)
        await process_event(deps, event_id)
    # A late transcription of a failed call must not overwrite the terminal state either.
    late = await store(
        db, "post_call_transcription", envelope("post_call_transcription", transcription())
    )
    await process_event(deps, late)
    async with db.session() as s:
        attempts = (await s.exec(select(Attempt).order_by(col(Attempt.id)))).all()
        contact = (await s.exec(select(Contact))).one()
    assert [a.state for a in attempts] == ["no_answer", "scheduled"]
    assert attempts[1].seq == 2
    assert contact.disposition == "pending"


async def test_retries_stop_at_the_cap(db: Database, deps: Deps) -> None:
    await live_attempt(db, deps, config={"retry": {"max_attempts": 1}})
    async with db.session() as s:
        contact = (await s.exec(select(Contact))).one()
        contact.attempts_made = 1
    event_id = await store(
        db,
        "call_initiation_failure",
        envelope("call_initiation_failure", {"conversation_id": CONV, "failure_reason": "busy"}),
    )
    await process_event(deps, event_id)
    async with db.session() as s:
        states = (await s.exec(select(Attempt.state))).all()
        contact = (await s.exec(select(Contact))).one()
    assert states == ["busy"]
    assert (contact.disposition, contact.disposition_detail) == ("unreachable", "busy")


async def test_opt_out_collected_in_a_call_stops_every_campaign(db: Database, deps: Deps) -> None:
    await live_attempt(db, deps)
    other = await make_campaign(db, "other")
    _, pending = await make_contact(db, other, "crm-9", "+14155550123")
    assert pending is not None
    data = transcription()
    data["analysis"]["data_collection_results"]["opt_out"] = {
        "data_collection_id": "opt_out",
        "value": True,
    }
    event_id = await store(db, "post_call_transcription", envelope("post_call_transcription", data))
    await process_event(deps, event_id)
    async with db.session() as s:
        dnc = await s.get(DoNotCall, "+14155550123")
        other_attempt = await s.get(Attempt, pending.id)
        dispositions = sorted((await s.exec(select(Contact.disposition))).all())
        attempts = (await s.exec(select(Attempt.state).order_by(col(Attempt.id)))).all()
    assert dnc is not None
    assert other_attempt is not None and other_attempt.state == AttemptState.CANCELED
    assert dispositions == ["do_not_call", "do_not_call"]
    assert attempts == ["completed", "canceled"]


async def test_event_for_an_unknown_conversation_waits_unmatched(db: Database, deps: Deps) -> None:
    event_id = await store(
        db, "post_call_transcription", envelope("post_call_transcription", transcription())
    )
    assert await process_event(deps, event_id) is EventResult.UNMATCHED
    async with db.session() as s:
        event = await s.get(WebhookEvent, event_id)
    assert event is not None and event.status == "unmatched"
