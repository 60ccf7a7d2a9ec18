"""Place one attempt's call, exactly once.

queued ─acquire slots─▶ (pace) ─CAS queued→dialing─▶ POST ─▶ initiated   (slots held until the end)
  definite refusal (429, 4xx, unreachable) ─▶ slots released, attempt rescheduled or failed
  ambiguous (timeout, reset, 5xx)          ─▶ unknown: slots kept, the reconciler adopts or frees
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator import keys
from orchestrator.dialing.payload import initiation_for
from orchestrator.dialing.scopes import CallScopes, scopes_for
from orchestrator.domain.attempt import AttemptState
from orchestrator.domain.campaign_policy import policy_of
from orchestrator.domain.outcome import Disposition
from orchestrator.errors import ProviderAmbiguous, ProviderBusy, ProviderRefused
from orchestrator.limiter.burst import may_burst
from orchestrator.limiter.slots import Acquired
from orchestrator.providers.elevenlabs import PhoneKind
from orchestrator.runtime import Deps
from orchestrator.scheduling.gate import admit
from orchestrator.secretbox import SecretsUnavailable
from orchestrator.store.attempts import transition
from orchestrator.store.models import Attempt, Campaign, Contact, WebhookEvent
from orchestrator.store.types import utcnow
from orchestrator.tracking.finalize import finish_attempt

log = structlog.get_logger(__name__)

#: How long a dial job waits for a free slot before handing the attempt back to the dispatcher.
SLOT_WAIT_SECS = 20.0
#: Delay before retrying a number that is on another live call.
NUMBER_BUSY_DELAY_SECS = 30.0
#: Delay before retrying after the provider said it is busy.
PROVIDER_BUSY_DELAY_SECS = 2.0


class DialResultKind(StrEnum):
    """What one dial job did."""

    INITIATED = "initiated"
    SKIPPED = "skipped"
    REQUEUED = "requeued"
    RESCHEDULED = "rescheduled"
    CANCELED = "canceled"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Loaded:
    """An attempt with its contact and campaign."""

    attempt: Attempt
    contact: Contact
    campaign: Campaign


async def _load(deps: Deps, attempt_id: int) -> Loaded | None:
    async with deps.db.session() as s:
        attempt = await s.get(Attempt, attempt_id)
        if attempt is None:
            return None
        contact = await s.get(Contact, attempt.contact_id)
        campaign = await s.get(Campaign, attempt.campaign_id)
        assert contact is not None and campaign is not None
        return Loaded(attempt, contact, campaign)


async def _acquire(deps: Deps, attempt_id: int, scopes: CallScopes) -> Acquired:
    """Take every slot, waiting (woken by releases) while only the account or campaign is full."""
    lease = deps.settings.max_call_secs + deps.settings.lease_margin_secs
    loop_deadline = deps.clock() + SLOT_WAIT_SECS
    await deps.waiter.start()
    while True:
        got = await deps.limiter.acquire(
            attempt_id,
            scopes.account,
            scopes.others,
            account_cap=scopes.account_cap,
            now=deps.clock(),
            lease_secs=lease,
        )
        if got.ok or got.full_scope == keys.SCOPE_NUMBER:
            return got
        remaining = loop_deadline - deps.clock()
        if remaining <= 0:
            return got
        await deps.waiter.wait(min(remaining, 1.0))


async def _pace(deps: Deps) -> None:
    while (wait := await deps.pacing.take(deps.clock())) > 0:
        await asyncio.sleep(wait)


async def _requeue(deps: Deps, attempt_id: int, delay: float, expected: AttemptState) -> None:
    async with deps.db.session() as s:
        await transition(
            s,
            attempt_id,
            [expected],
            AttemptState.SCHEDULED,
            due_at=utcnow() + timedelta(seconds=delay),
            queued_at=None,
        )


async def dial_attempt(deps: Deps, attempt_id: int) -> DialResultKind:
    """Dial one queued attempt (the arq job `dial_attempt` calls this)."""
    loaded = await _load(deps, attempt_id)
    if loaded is None or loaded.attempt.state != AttemptState.QUEUED:
        return DialResultKind.SKIPPED
    attempt, contact, campaign = loaded.attempt, loaded.contact, loaded.campaign
    policy = policy_of(campaign.config)
    gate = await admit(deps, attempt, contact, campaign, policy, utcnow())
    if gate.cancel_reason is not None:
        async with deps.db.session() as s:
            moved = await transition(
                s,
                attempt_id,
                [AttemptState.QUEUED],
                AttemptState.CANCELED,
                error=gate.cancel_reason,
            )
        if moved:
            await finish_attempt(deps, attempt_id)
        return DialResultKind.CANCELED
    if gate.not_before is not None:
        wait = max(0.0, (gate.not_before - utcnow()).total_seconds())
        await _requeue(deps, attempt_id, wait, AttemptState.QUEUED)
        return DialResultKind.REQUEUED

    allow_burst = await may_burst(deps, campaign, policy)
    scopes = scopes_for(
        deps.settings, campaign, attempt.phone_number, allow_burst=allow_burst, policy=policy
    )
    got = await _acquire(deps, attempt_id, scopes)
    if not got.ok:
        delay = NUMBER_BUSY_DELAY_SECS if got.full_scope == keys.SCOPE_NUMBER else 0.0
        await _requeue(deps, attempt_id, delay, AttemptState.QUEUED)
        return DialResultKind.REQUEUED
    await _pace(deps)

    async with deps.db.session() as s:
        moved = await transition(
            s,
            attempt_id,
            [AttemptState.QUEUED],
            AttemptState.DIALING,
            dial_started_at=utcnow(),
            is_burst=got.is_burst,
        )
        if moved:
            db_contact = await s.get(Contact, contact.id)
            assert db_contact is not None
            db_contact.attempts_made += 1
            db_contact.disposition = Disposition.IN_PROGRESS
            db_contact.updated_at = utcnow()
    if not moved:
        await deps.limiter.release(attempt_id, scopes.all)
        return DialResultKind.SKIPPED

    try:
        initiation = await initiation_for(deps, attempt, contact, campaign, policy)
    except SecretsUnavailable as exc:
        return await _fail_before_dial(deps, attempt_id, scopes, str(exc))
    kind: PhoneKind = "sip_trunk" if campaign.phone_number_kind == "sip_trunk" else "twilio"
    try:
        result = await deps.provider.outbound_call(
            kind,
            agent_id=campaign.agent_id,
            phone_number_id=campaign.phone_number_id,
            to_number=attempt.phone_number,
            initiation_data=initiation,
        )
    except ProviderBusy as exc:
        await deps.limiter.release(attempt_id, scopes.all)
        delay = exc.retry_after if exc.retry_after is not None else PROVIDER_BUSY_DELAY_SECS
        async with deps.db.session() as s:
            await transition(
                s,
                attempt_id,
                [AttemptState.DIALING],
                AttemptState.SCHEDULED,
                due_at=utcnow() + timedelta(seconds=delay),
                queued_at=None,
                error=str(exc)[:500],
            )
            await _undo_count(s, contact.id)
        log.info("dial.refused_busy", attempt_id=attempt_id, reason=str(exc))
        return DialResultKind.RESCHEDULED
    except ProviderRefused as exc:
        return await _fail_before_dial(deps, attempt_id, scopes, str(exc))
    except ProviderAmbiguous as exc:
        async with deps.db.session() as s:
            await transition(
                s,
                attempt_id,
                [AttemptState.DIALING],
                AttemptState.UNKNOWN,
                error=str(exc)[:500],
                last_news_at=utcnow(),
            )
        log.warning("dial.ambiguous", attempt_id=attempt_id, reason=str(exc))
        return DialResultKind.UNKNOWN

    async with deps.db.session() as s:
        await transition(
            s,
            attempt_id,
            [AttemptState.DIALING],
            AttemptState.INITIATED,
            conversation_id=result.conversation_id,
            call_sid=result.call_sid,
            initiated_at=utcnow(),
            last_news_at=utcnow(),
        )
    await _replay_early_events(deps, result.conversation_id)
    log.info("dial.initiated", attempt_id=attempt_id, conversation_id=result.conversation_id)
    return DialResultKind.INITIATED


async def _undo_count(s: AsyncSession, contact_id: int | None) -> None:
    """A refused dial reached nobody: it does not count against the contact's cap."""
    contact = await s.get(Contact, contact_id)
    if contact is not None and contact.attempts_made > 0:
        contact.attempts_made -= 1


async def _fail_before_dial(
    deps: Deps, attempt_id: int, scopes: CallScopes, reason: str
) -> DialResultKind:
    async with deps.db.session() as s:
        moved = await transition(
            s,
            attempt_id,
            [AttemptState.DIALING],
            AttemptState.FAILED,
            error=reason[:500],
            ended_at=utcnow(),
        )
    await deps.limiter.release(attempt_id, scopes.all)
    if moved:
        await finish_attempt(deps, attempt_id)
    log.warning("dial.refused", attempt_id=attempt_id, reason=reason)
    return DialResultKind.FAILED


async def _replay_early_events(deps: Deps, conversation_id: str | None) -> None:
    """Webhooks can beat our own commit of the conversation id: process any that waited."""
    if not conversation_id:
        return
    async with deps.db.session() as s:
        rows = (
            await s.exec(
                select(WebhookEvent.id, WebhookEvent.event_type).where(
                    WebhookEvent.conversation_id == conversation_id,
                    col(WebhookEvent.status).in_(["unmatched"]),
                )
            )
        ).all()
    for event_id, event_type in rows:
        assert event_id is not None
        await deps.enqueue(
            keys.JOB_PROCESS_EVENT,
            event_id,
            job_id=keys.event_job_id(event_type, conversation_id, event_id) + ":late",
        )
