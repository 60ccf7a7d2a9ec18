"""Crashes and lost leases: a dialer killed mid-way, leases that lapse, slots nobody holds."""

from __future__ import annotations

from datetime import timedelta

import orjson
from arq.constants import job_key_prefix
from sqlalchemy import update
from sqlmodel import col

from orchestrator import keys
from orchestrator.deps import Deps
from orchestrator.dialing.initiation import initiation_for
from orchestrator.dialing.reconcile import reconcile_unknown
from orchestrator.dialing.send import dial_deadline_secs
from orchestrator.domain.campaign_policy import policy_of
from orchestrator.lifecycle import release_orphans
from orchestrator.limiter.scopes import scopes_for
from orchestrator.providers.elevenlabs import DialResult
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Campaign, Contact, WebhookEvent
from orchestrator.tracking.events import EventResult, process_event
from orchestrator.tracking.poller import recover_lost_leases
from tests.dialing.conftest import StackFactory, sandbox_dials
from tests.dialing.test_dial import LONG_CALLS
from tests.support.factories import make_campaign, make_contact


async def attempt_row(db: Database, attempt_id: int) -> Attempt:
    async with db.session() as s:
        row = await s.get(Attempt, attempt_id)
        assert row is not None
        return row


async def claimed_long_ago(deps: Deps, db: Database, attempt_id: int) -> None:
    """Leave the attempt as a dialer killed after its claim would: `dialing`, slots held."""
    started = deps.now() - timedelta(seconds=dial_deadline_secs(deps.settings) + 1)
    async with db.session() as s:
        await s.exec(
            update(Attempt)
            .where(col(Attempt.id) == attempt_id)
            .values(state="dialing", dial_started_at=started)
        )
        row = await s.get(Attempt, attempt_id)
        assert row is not None
        contact = await s.get(Contact, row.contact_id)
        assert contact is not None
        contact.attempts_made = 1


async def take_slots(deps: Deps, campaign: Campaign, attempt: Attempt) -> None:
    assert attempt.id is not None
    scopes = scopes_for(deps.settings, campaign, attempt.phone_number)
    got = await deps.limiter.acquire(
        attempt.id, scopes.account, scopes.others, account_cap=10, now=deps.clock(), lease_secs=600
    )
    assert got.ok


async def place_unrecorded(
    deps: Deps, attempt: Attempt, contact: Contact, campaign: Campaign
) -> DialResult:
    """Place the attempt's call at the provider the way a dialer does, recording nothing."""
    data = await initiation_for(deps, attempt, contact, campaign, policy_of(None))
    return await deps.provider.outbound_call(
        "twilio",
        agent_id=campaign.agent_id,
        phone_number_id=campaign.phone_number_id,
        to_number=attempt.phone_number,
        initiation_data=data,
    )


async def test_killed_before_the_post_is_released_without_a_dial(
    db: Database, stack: StackFactory
) -> None:
    campaign = await make_campaign(db)
    _, attempt = await make_contact(db, campaign, attempt_state="queued")
    assert attempt is not None and attempt.id is not None
    async with stack(settings_update={"unknown_grace_secs": 0.1}) as (deps, sb):
        await take_slots(deps, campaign, attempt)
        await claimed_long_ago(deps, db, attempt.id)
        assert (await reconcile_unknown(deps)).resolved == 1
        held = await deps.limiter.holders(
            scopes_for(deps.settings, campaign, attempt.phone_number).account, now=deps.clock()
        )
        dials = await sandbox_dials(sb)
    row = await attempt_row(db, attempt.id)
    assert row.state == "scheduled"
    assert dials == []
    assert held == []


async def test_killed_after_the_post_is_adopted_not_redialled(
    db: Database, stack: StackFactory
) -> None:
    campaign = await make_campaign(db)
    contact, attempt = await make_contact(db, campaign, attempt_state="queued")
    assert attempt is not None and attempt.id is not None
    async with stack(settings_update={"unknown_grace_secs": 0.1}, **LONG_CALLS) as (deps, sb):
        await take_slots(deps, campaign, attempt)
        # The dialer sent its POST (the call exists) and died before recording it.
        placed = await place_unrecorded(deps, attempt, contact, campaign)
        await claimed_long_ago(deps, db, attempt.id)
        assert (await reconcile_unknown(deps)).resolved == 1
        dials = await sandbox_dials(sb)
    row = await attempt_row(db, attempt.id)
    assert row.state in ("initiated", "in_progress")
    assert row.conversation_id == placed.conversation_id
    assert len(dials) == 1


async def test_a_dialing_attempt_younger_than_the_deadline_is_left_alone(
    db: Database, stack: StackFactory
) -> None:
    campaign = await make_campaign(db)
    _, attempt = await make_contact(db, campaign, attempt_state="dialing")
    assert attempt is not None and attempt.id is not None
    async with stack(settings_update={"unknown_grace_secs": 0.1}) as (deps, _sb):
        async with db.session() as s:
            await s.exec(
                update(Attempt)
                .where(col(Attempt.id) == attempt.id)
                .values(dial_started_at=deps.now())
            )
        # A live dialer may still be inside its POST: never touch it.
        assert (await reconcile_unknown(deps)).resolved == 0
    assert (await attempt_row(db, attempt.id)).state == "dialing"


async def test_a_live_call_whose_lease_lapsed_gets_it_back(
    db: Database, stack: StackFactory
) -> None:
    campaign = await make_campaign(db)
    contact, attempt = await make_contact(db, campaign, attempt_state="queued")
    assert attempt is not None and attempt.id is not None
    async with stack(**LONG_CALLS) as (deps, _sb):
        placed = await place_unrecorded(deps, attempt, contact, campaign)
        async with db.session() as s:
            await s.exec(
                update(Attempt)
                .where(col(Attempt.id) == attempt.id)
                .values(state="initiated", conversation_id=placed.conversation_id)
            )
        account = scopes_for(deps.settings, campaign, attempt.phone_number).account
        assert await deps.limiter.holders(account, now=deps.clock()) == []
        assert await recover_lost_leases(deps) == 1
        held = await deps.limiter.holders(account, now=deps.clock())
    assert held == [str(attempt.id)]


async def test_slots_of_ended_attempts_are_freed(db: Database, stack: StackFactory) -> None:
    campaign = await make_campaign(db)
    _, ended = await make_contact(db, campaign, "a", "+12127360001", attempt_state="completed")
    _, live = await make_contact(db, campaign, "b", "+12127360002", attempt_state="in_progress")
    assert ended and live and ended.id and live.id
    async with stack() as (deps, _sb):
        await take_slots(deps, campaign, ended)
        await take_slots(deps, campaign, live)
        assert await release_orphans(deps) == 1
        account = scopes_for(deps.settings, campaign, "+1").account
        held = await deps.limiter.holders(account, now=deps.clock())
    assert held == [str(live.id)]


async def test_webhooks_stored_before_adoption_are_applied_once_it_is_adopted(
    db: Database, stack: StackFactory
) -> None:
    campaign = await make_campaign(db)
    contact, attempt = await make_contact(db, campaign, attempt_state="queued")
    assert attempt is not None and attempt.id is not None
    async with stack(settings_update={"unknown_grace_secs": 0.1}, **LONG_CALLS) as (deps, _sb):
        await take_slots(deps, campaign, attempt)
        placed = await place_unrecorded(deps, attempt, contact, campaign)
        conversation = placed.conversation_id
        assert conversation
        # The call ended and its webhook came while no attempt knew the conversation.
        body = orjson.dumps(
            {
                "type": "post_call_transcription",
                "data": {"conversation_id": conversation, "status": "done", "metadata": {}},
            }
        )
        async with db.session() as s:
            event = WebhookEvent(
                event_type="post_call_transcription",
                conversation_id=conversation,
                body=body,
                status="unmatched",
            )
            s.add(event)
        assert event.id is not None
        await claimed_long_ago(deps, db, attempt.id)
        assert (await reconcile_unknown(deps)).resolved == 1
        job_id = keys.event_job_id("post_call_transcription", conversation, event.id) + ":late"
        queued = await deps.queue.exists(f"{job_key_prefix}{job_id}")
        # What the worker does with that job:
        assert await process_event(deps, event.id) is EventResult.PROCESSED
    assert queued == 1
    row = await attempt_row(db, attempt.id)
    assert row.state == "completed"
    async with db.session() as s:
        stored = await s.get(WebhookEvent, event.id)
    assert stored is not None and stored.status == "processed"
