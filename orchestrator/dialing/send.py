"""Sending one claimed dial, once, and recording what is known of its fate.

claimed (dialing) ─POST─▶ initiated                       (slots held until the end)
  definite refusal (429, 4xx)       ─▶ slots released, attempt rescheduled or failed
  ambiguous (timeout, reset, 5xx)   ─▶ unknown: slots kept, the reconciler adopts or frees
  request that cannot be encoded    ─▶ never sent: slots released, counted (parked at the Nth)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

import structlog
from redis.exceptions import RedisError
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.deps import Deps
from orchestrator.dialing.route import place_call
from orchestrator.domain.attempt import AttemptState
from orchestrator.domain.campaign_policy import policy_of
from orchestrator.errors import (
    ProviderAmbiguous,
    ProviderBusy,
    ProviderRefused,
    RequestUnsendable,
)
from orchestrator.lifecycle import count_failure, end_attempt, failure_kind, replay_unmatched
from orchestrator.limiter.scopes import CallScopes
from orchestrator.providers.elevenlabs import DialResult
from orchestrator.settings import Settings
from orchestrator.store.attempts import transition
from orchestrator.store.models import Attempt, Campaign, Contact

log = structlog.get_logger(__name__)

#: Delay before retrying after the provider said it is busy.
PROVIDER_BUSY_DELAY_SECS = 2.0
#: Slack over the provider timeout for the whole dial POST (see `dial_deadline_secs`).
POST_SLACK_SECS = 2.0
#: Margin for what happens between the claim and the POST (re-asserting the slots, a busy loop).
CLAIM_MARGIN_SECS = 10.0


def dial_deadline_secs(settings: Settings) -> float:
    """Seconds after its claim by which a live dialer has certainly finished its POST.

    A `dialing` attempt older than this was left by a worker that died; the reconciler may then
    resolve it without racing a dial still in flight.
    """
    return settings.provider_timeout_secs + POST_SLACK_SECS + CLAIM_MARGIN_SECS


class DialResultKind(StrEnum):
    """What one dial job did."""

    INITIATED = "initiated"
    SKIPPED = "skipped"
    REQUEUED = "requeued"
    RESCHEDULED = "rescheduled"
    CANCELED = "canceled"
    FAILED = "failed"
    UNKNOWN = "unknown"
    PARKED = "parked"


@dataclass(frozen=True)
class Loaded:
    """An attempt with its contact and campaign."""

    attempt: Attempt
    contact: Contact
    campaign: Campaign


async def move(
    deps: Deps, attempt_id: int, expected: AttemptState, new: AttemptState, **values: Any
) -> bool:
    """Compare-and-set one attempt, through the group commit; True when it moved."""

    async def work(s: AsyncSession) -> bool:
        return await transition(s, attempt_id, [expected], new, **values)

    return await deps.commits.run(work)


async def post_and_record(
    deps: Deps, loaded: Loaded, initiation: dict[str, Any], scopes: CallScopes
) -> DialResultKind:
    """POST the dial once and record what is known of its fate."""
    attempt, contact, campaign = loaded.attempt, loaded.contact, loaded.campaign
    assert attempt.id is not None
    attempt_id = attempt.id
    try:
        result = await _post(deps, campaign, attempt.phone_number, initiation)
    except RequestUnsendable as exc:
        # Never sent: a definite failure of this record, counted (parked when it keeps failing).
        moved = await count_failure(
            deps,
            attempt_id,
            [AttemptState.DIALING],
            failure_kind(exc),
            str(exc),
            undo_count=True,
        )
        return DialResultKind.PARKED if moved is AttemptState.PARKED else DialResultKind.REQUEUED
    except ProviderBusy as exc:
        await deps.limiter.release(attempt_id, scopes.all)
        delay = exc.retry_after if exc.retry_after is not None else PROVIDER_BUSY_DELAY_SECS
        reason = str(exc)[:500]

        async def refused(s: AsyncSession) -> None:
            if await transition(
                s,
                attempt_id,
                [AttemptState.DIALING],
                AttemptState.SCHEDULED,
                due_at=deps.now() + timedelta(seconds=delay),
                queued_at=None,
                error=reason,
            ):
                await undo_count(s, contact.id)

        await deps.commits.run(refused)
        log.info("dial.refused_busy", attempt_id=attempt_id, reason=str(exc))
        return DialResultKind.RESCHEDULED
    except ProviderRefused as exc:
        return await fail_before_dial(deps, attempt_id, scopes, str(exc))
    except ProviderAmbiguous as exc:
        await move(
            deps,
            attempt_id,
            AttemptState.DIALING,
            AttemptState.UNKNOWN,
            error=str(exc)[:500],
            last_news_at=deps.now(),
        )
        log.warning("dial.ambiguous", attempt_id=attempt_id, reason=str(exc))
        return DialResultKind.UNKNOWN

    if result.conversation_id:
        await _remember_call(deps, result.conversation_id, attempt_id, scopes)
    await move(
        deps,
        attempt_id,
        AttemptState.DIALING,
        AttemptState.INITIATED,
        conversation_id=result.conversation_id,
        call_sid=result.call_sid,
        initiated_at=deps.now(),
        last_news_at=deps.now(),
    )
    if result.conversation_id:
        # Webhooks can beat our own commit of the conversation id: process any that waited.
        await replay_unmatched(deps, result.conversation_id)
    log.info("dial.initiated", attempt_id=attempt_id, conversation_id=result.conversation_id)
    return DialResultKind.INITIATED


async def _remember_call(
    deps: Deps, conversation_id: str, attempt_id: int, scopes: CallScopes
) -> None:
    """Let the web process free this call's slots the moment news of its end arrives."""
    settings = deps.settings
    try:
        await deps.limiter.remember_call(
            conversation_id,
            attempt_id,
            scopes.all,
            ttl_secs=settings.max_call_secs + settings.lease_margin_secs,
        )
    except RedisError as exc:
        # Only a shortcut: the worker frees the slots when it processes the end event.
        log.warning("dial.remember_failed", attempt_id=attempt_id, error=type(exc).__name__)


async def _post(
    deps: Deps, campaign: Campaign, to_number: str, initiation: dict[str, Any]
) -> DialResult:
    """The dial POST, bounded in total time so the reconciler can tell a dead dialer apart.

    The HTTP client's timeout bounds each phase, not the whole request; the reconciler only
    touches a `dialing` attempt after `dial_deadline_secs`, so the POST must be over by then.
    """
    try:
        # Natively through the provider, or with our own Twilio client (`dial_mode`).
        return await asyncio.wait_for(
            place_call(deps, campaign, policy_of(campaign.config), to_number, initiation),
            timeout=deps.settings.provider_timeout_secs + POST_SLACK_SECS,
        )
    except TimeoutError as exc:
        raise ProviderAmbiguous("the dial request did not finish in time") from exc


async def undo_count(s: AsyncSession, contact_id: int | None) -> None:
    """A refused dial reached nobody: it does not count against the contact's cap."""
    contact = await s.get(Contact, contact_id)
    if contact is not None and contact.attempts_made > 0:
        contact.attempts_made -= 1


async def fail_before_dial(
    deps: Deps, attempt_id: int, scopes: CallScopes, reason: str
) -> DialResultKind:
    await end_attempt(
        deps,
        attempt_id,
        [AttemptState.DIALING],
        AttemptState.FAILED,
        reason,
        scopes=scopes,
        ended_at=deps.now(),
    )
    log.warning("dial.refused", attempt_id=attempt_id, reason=reason)
    return DialResultKind.FAILED
