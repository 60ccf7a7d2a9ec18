"""Dialing one attempt against the sandbox: exactly once, with its own initiation data."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from orchestrator import keys
from orchestrator.dialing.dial import DialResultKind, dial_attempt
from orchestrator.dialing.reconcile import reconcile_unknown
from orchestrator.limiter.scopes import scopes_for
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Contact
from tests.dialing.conftest import StackFactory, sandbox_dials, sandbox_summary
from tests.support.factories import make_campaign, make_contact

#: Every call is answered and lasts long (10 s wall at the stack's time scale): calls stay live.
LONG_CALLS = {
    "success": 1.0,
    "failure": 0.0,
    "voicemail": 0.0,
    "no_answer": 0.0,
    "busy": 0.0,
    "failed": 0.0,
    "talk_secs": 10_000,
}


async def _attempt(db: Database, attempt_id: int) -> Attempt:
    async with db.session() as s:
        row = await s.get(Attempt, attempt_id)
        assert row is not None
        return row


async def _contact(db: Database, contact_id: int) -> Contact:
    async with db.session() as s:
        row = await s.get(Contact, contact_id)
        assert row is not None
        return row


async def test_dial_places_one_call_with_the_contacts_data(
    db: Database, stack: StackFactory
) -> None:
    campaign = await make_campaign(db)
    contact, attempt = await make_contact(db, campaign, attempt_state="queued")
    assert attempt is not None and attempt.id is not None
    async with stack() as (deps, sb):
        assert await dial_attempt(deps, attempt.id) is DialResultKind.INITIATED
        # A second run of the same job (redelivery) must not dial again.
        assert await dial_attempt(deps, attempt.id) is DialResultKind.SKIPPED
        dials = await sandbox_dials(sb)
        held = await deps.limiter.holders(
            scopes_for(deps.settings, campaign, attempt.phone_number).others[-1], now=deps.clock()
        )
    row = await _attempt(db, attempt.id)
    assert row.state == "initiated"
    assert len(dials) == 1
    assert dials[0]["conversation_id"] == row.conversation_id
    assert dials[0]["user_id"] == contact.external_id
    assert dials[0]["to_number"] == contact.phone_number
    assert held == [str(attempt.id)]
    assert (await _contact(db, contact.id or 0)).attempts_made == 1


@pytest.mark.parametrize(
    ("limits", "counted"),
    [
        # The provider allows 1 call at once but our limit says 10.
        ({"concurrency": 1}, "rejected_concurrency"),
        # The agent's own limit (`call_limits`), which the campaign's policy does not know.
        ({"concurrency": 10, "agent_concurrency_limit": 1}, "rejected_agent_concurrency"),
    ],
)
async def test_concurrency_refusal_releases_and_reschedules(
    db: Database, stack: StackFactory, limits: dict[str, int], counted: str
) -> None:
    campaign = await make_campaign(db)
    _, first = await make_contact(db, campaign, "a", "+14155550101", attempt_state="queued")
    second_contact, second = await make_contact(
        db, campaign, "b", "+14155550102", attempt_state="queued"
    )
    assert first and second and first.id and second.id
    # The provider's 429 must leave no call placed, no slot held and no attempt counted.
    async with stack(**limits, **LONG_CALLS) as (deps, sb):
        assert await dial_attempt(deps, first.id) is DialResultKind.INITIATED
        assert await dial_attempt(deps, second.id) is DialResultKind.RESCHEDULED
        summary = await sandbox_summary(sb)
        account = scopes_for(deps.settings, campaign, "+1").account
        live = await deps.limiter.holders(account, now=deps.clock())
    assert summary[counted] == 1
    assert summary["dials"] == 1
    assert live == [str(first.id)]
    row = await _attempt(db, second.id)
    assert row.state == "scheduled"
    assert (await _contact(db, second_contact.id or 0)).attempts_made == 0


async def test_same_number_is_never_dialled_twice_at_once(
    db: Database, stack: StackFactory
) -> None:
    campaign = await make_campaign(db)
    _, first = await make_contact(db, campaign, "a", "+14155550101", attempt_state="queued")
    _, second = await make_contact(db, campaign, "b", "+14155550101", attempt_state="queued")
    assert first and second and first.id and second.id
    async with stack(**LONG_CALLS) as (deps, sb):
        results = await asyncio.gather(dial_attempt(deps, first.id), dial_attempt(deps, second.id))
        dials = await sandbox_dials(sb)
    assert sorted(results) == sorted([DialResultKind.INITIATED, DialResultKind.REQUEUED])
    assert len(dials) == 1
    states = {(await _attempt(db, i)).state for i in (first.id, second.id)}
    assert states == {"initiated", "scheduled"}


async def test_timeout_after_placing_is_adopted_not_redialled(
    db: Database, stack: StackFactory
) -> None:
    campaign = await make_campaign(db)
    contact, attempt = await make_contact(db, campaign, attempt_state="queued")
    assert attempt is not None and attempt.id is not None
    async with stack(timeout_after_place_rate=1.0, timeout_after_place_secs=5, **LONG_CALLS) as (
        deps,
        sb,
    ):
        assert await dial_attempt(deps, attempt.id) is DialResultKind.UNKNOWN
        assert (await _attempt(db, attempt.id)).state == "unknown"
        assert (await reconcile_unknown(deps)).resolved == 1
        dials = await sandbox_dials(sb)
    row = await _attempt(db, attempt.id)
    assert len(dials) == 1
    assert row.state in ("initiated", "in_progress")
    assert row.conversation_id == dials[0]["conversation_id"]
    assert dials[0]["user_id"] == contact.external_id


async def test_unknown_with_no_call_is_released_after_the_grace_period(
    db: Database, stack: StackFactory
) -> None:
    campaign = await make_campaign(db)
    _, attempt = await make_contact(db, campaign, attempt_state="queued")
    assert attempt is not None and attempt.id is not None
    async with stack(http_5xx_rate=1.0, settings_update={"unknown_grace_secs": 0.2}) as (deps, sb):
        assert await dial_attempt(deps, attempt.id) is DialResultKind.UNKNOWN
        # Inside the grace period nothing is released: the call might still show up.
        assert (await reconcile_unknown(deps)).resolved == 0
        assert (await _attempt(db, attempt.id)).state == "unknown"
        await asyncio.sleep(0.3)
        assert (await reconcile_unknown(deps)).resolved == 1
        number = scopes_for(deps.settings, campaign, attempt.phone_number).others[-1]
        held = await deps.limiter.holders(number, now=deps.clock())
        assert (await sandbox_summary(sb))["dials"] == 0
    assert (await _attempt(db, attempt.id)).state == "scheduled"
    assert held == []


async def test_canceled_campaign_cancels_instead_of_dialling(
    db: Database, stack: StackFactory
) -> None:
    campaign = await make_campaign(db, status="canceled")
    contact, attempt = await make_contact(db, campaign, attempt_state="queued")
    assert attempt is not None and attempt.id is not None
    async with stack() as (deps, sb):
        assert await dial_attempt(deps, attempt.id) is DialResultKind.CANCELED
        assert (await sandbox_summary(sb))["dials"] == 0
    assert (await _attempt(db, attempt.id)).state == "canceled"
    assert (await _contact(db, contact.id or 0)).disposition == "canceled"


async def test_dispatcher_claims_due_attempts_once(db: Database, stack: StackFactory) -> None:
    from orchestrator.scheduling.dispatcher import dispatch_once

    campaign = await make_campaign(db)
    for i in range(5):
        await make_contact(db, campaign, f"c{i}", f"+1415555010{i}")
    async with stack() as (deps, _sb):
        first, second = await asyncio.gather(dispatch_once(deps), dispatch_once(deps))
        queued = await deps.redis.zcard(deps.settings.queue_name)
    assert first + second == 5
    assert queued == 5
    async with db.session() as s:
        states = (await s.exec(select(Attempt.state))).all()
    assert states == ["queued"] * 5
    assert keys.dial_job_id(1) == "dial:1"


async def test_the_agents_concurrency_limit_is_kept_before_the_provider_refuses(
    db: Database, stack: StackFactory
) -> None:
    # The provider holds each agent to its `call_limits.agent_concurrency_limit` (here 2 of a
    # workspace's 10); the campaign's policy says the same, so no dial is ever refused.
    campaign = await make_campaign(db, config={"agent_concurrency_limit": 2})
    attempts = []
    for n in range(4):
        _, attempt = await make_contact(
            db, campaign, f"crm-{n}", f"+1415555010{n}", attempt_state="queued"
        )
        assert attempt is not None and attempt.id is not None
        attempts.append(attempt.id)
    async with stack(concurrency=10, agent_concurrency_limit=2, **LONG_CALLS) as (deps, sb):
        results = await asyncio.gather(*(dial_attempt(deps, a) for a in attempts))
        summary = await sandbox_summary(sb)
    assert sorted(results).count(DialResultKind.INITIATED) == 2
    assert summary["dials"] == 2
    assert summary["rejected_agent_concurrency"] == 0
    assert summary["peak_live_by_agent"] == {campaign.agent_id: 2}
