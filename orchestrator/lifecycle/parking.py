"""Parking: an attempt that fails the same way again and again leaves the dial loop, with a reason.

A failure of the record itself, before any call was placed, is counted on the attempt: initiation
data that cannot be built or encoded, a dial job that crashes before its POST, a campaign policy
that no longer validates, a dial left `dialing`/`unknown` with no call found at the provider. The
attempt goes back to `scheduled` (due after `park_retry_secs`, its slots free and nothing counted
against the contact's cap); the `park_after_failures`-th failure of one kind in a row parks it:

    scheduled/queued/dialing/unknown ─(N failures of one kind)─▶ parked ─(re-queue)─▶ scheduled

A parked attempt holds no slot, is never dispatched and plans no retry; its `error` says why, its
contact's disposition is `parked` (not final: no CRM notification). An operator fixes the cause
(the contact's data, the configuration) and re-queues it: `orchestrator parked requeue ID`, or
`POST /v1/parked/{attempt_id}/requeue`. Canceling the campaign or a do-not-call entry cancels it
like any waiting attempt. `/metrics` shows `orchestrator_parked{kind="attempt"}`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from redis.exceptions import RedisError
from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator import metrics
from orchestrator.deps import Deps
from orchestrator.domain.attempt import AttemptState
from orchestrator.domain.outcome import Disposition
from orchestrator.domain.text import shown
from orchestrator.limiter.scopes import every_scope
from orchestrator.store.attempts import transition
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Campaign, Contact, WebhookEvent
from orchestrator.store.types import utcnow

log = structlog.get_logger(__name__)

#: Failures of the infrastructure, not of the record: never counted (the record is taken up
#: again by the loop that lost it: the stale-queue sweep, the reconciler, the event sweep).
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    RedisError,
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
)
#: The status of a webhook event whose processing failed the same way again and again.
PARKED_EVENT = "parked"
#: Contacts in these dispositions follow their attempt into and out of `parked`.
_WAITING = (Disposition.PENDING.value, Disposition.IN_PROGRESS.value)


def failure_kind(exc: BaseException) -> str:
    """The kind of a failure, for "the same way": the exception's class."""
    return type(exc).__name__


def failure_reason(exc: BaseException) -> str:
    """A failure as kept on the attempt: kind and message, storable whatever the message holds."""
    return shown(f"{failure_kind(exc)}: {exc}")[:500]


async def count_failure(
    deps: Deps,
    attempt_id: int,
    expected: Collection[AttemptState],
    kind: str,
    reason: str,
    *,
    undo_count: bool = False,
    delay_secs: float | None = None,
) -> AttemptState | None:
    """Count one failure of the attempt (placed nothing): back to `scheduled`, or `parked`.

    Args:
        deps: the process's clients.
        attempt_id: the attempt that failed.
        expected: the states it may be in (a compare-and-set: another worker may have moved it).
        kind: the failure's kind; a different kind than the last one starts the count again.
        reason: why, kept in the attempt's `error` (escaped: any text can be stored).
        undo_count: the attempt was claimed (counted against the contact's cap) and nothing was
            placed, so the count is given back.
        delay_secs: when it is due again (default `park_retry_secs`).

    Returns:
        The state it moved to, or None when it was no longer in `expected`.
    """
    reason = shown(reason)[:500]
    limit = deps.settings.park_after_failures

    async def work(s: AsyncSession) -> tuple[AttemptState, Attempt] | None:
        attempt = await s.get(Attempt, attempt_id)
        if attempt is None or AttemptState(attempt.state) not in expected:
            return None
        same = attempt.dial_failure_kind == kind
        failures = attempt.dial_failures + 1 if same else 1
        parks = failures >= limit
        new = AttemptState.PARKED if parks else AttemptState.SCHEDULED
        wait = deps.settings.park_retry_secs if delay_secs is None else delay_secs
        due = deps.now() + timedelta(seconds=wait)
        moved = await transition(
            s,
            attempt_id,
            expected,
            new,
            error=reason,
            dial_failures=failures,
            dial_failure_kind=kind[:60],
            queued_at=None,
            due_at=attempt.due_at if parks else due,
        )
        if not moved:
            return None
        contact = await s.get(Contact, attempt.contact_id)
        if contact is not None:
            if undo_count and contact.attempts_made > 0:
                contact.attempts_made -= 1
            if parks and contact.disposition in _WAITING:
                contact.disposition = Disposition.PARKED.value
                contact.disposition_detail = None
            contact.updated_at = utcnow()
            s.add(contact)
        return new, attempt

    done = await deps.commits.run(work)
    if done is None:
        return None
    new, attempt = done
    await _release(deps, attempt)
    if new is AttemptState.PARKED:
        log.warning("attempt.parked", attempt_id=attempt_id, kind=kind, reason=reason)
        await _count(deps, "attempts_parked_total")
    else:
        log.warning("attempt.failed_before_dial", attempt_id=attempt_id, kind=kind, reason=reason)
    return new


async def _release(deps: Deps, attempt: Attempt) -> None:
    """Free every slot the attempt may hold (it holds no call: nothing was placed)."""
    async with deps.db.quick() as s:
        campaign = await s.get(Campaign, attempt.campaign_id)
    if campaign is not None and attempt.id is not None:
        await deps.limiter.release(
            attempt.id, every_scope(deps.settings, campaign, attempt.phone_number)
        )


async def _count(deps: Deps, name: str) -> None:
    try:
        await metrics.count(deps.redis, name)
    except Exception as exc:  # a counter is never worth failing the bookkeeping for
        log.warning("metrics.count_failed", counter=name, error=type(exc).__name__)


@dataclass(frozen=True)
class ParkedAttempt:
    """A parked attempt as the CLI and the API list it."""

    attempt_id: int
    campaign: str
    external_id: str
    phone_number: str
    failures: int
    kind: str | None
    reason: str | None
    parked_at: datetime


async def list_parked(db: Database, *, limit: int = 100) -> list[ParkedAttempt]:
    """Parked attempts, the most recently parked first."""
    async with db.read() as s:
        rows = (
            await s.exec(
                select(Attempt, Contact.external_id, Campaign.name)
                .join(Contact, col(Contact.id) == Attempt.contact_id)
                .join(Campaign, col(Campaign.id) == Attempt.campaign_id)
                .where(Attempt.state == AttemptState.PARKED.value)
                .order_by(col(Attempt.updated_at).desc(), col(Attempt.id).desc())
                .limit(limit)
            )
        ).all()
    return [
        ParkedAttempt(
            attempt_id=attempt.id or 0,
            campaign=shown(campaign),
            external_id=shown(external_id),
            phone_number=shown(attempt.phone_number),
            failures=attempt.dial_failures,
            kind=attempt.dial_failure_kind,
            reason=attempt.error,
            parked_at=attempt.updated_at,
        )
        for attempt, external_id, campaign in rows
    ]


async def requeue(db: Database, attempt_id: int) -> bool:
    """Put a parked attempt back in the dial loop, due now, its failures forgotten.

    Returns:
        False when the attempt is not parked (unknown, already re-queued, canceled).
    """
    now = utcnow()
    async with db.session() as s:
        moved = await transition(
            s,
            attempt_id,
            [AttemptState.PARKED],
            AttemptState.SCHEDULED,
            due_at=now,
            dial_failures=0,
            dial_failure_kind=None,
            error=None,
        )
        if moved:
            contact_id = select(Attempt.contact_id).where(col(Attempt.id) == attempt_id)
            result: Any = update(Contact).where(
                col(Contact.id) == contact_id.scalar_subquery(),
                col(Contact.disposition) == Disposition.PARKED.value,
            )
            await s.exec(result.values(disposition=Disposition.PENDING.value, updated_at=now))
    if moved:
        log.info("attempt.requeued", attempt_id=attempt_id)
    return moved


@dataclass(frozen=True)
class ParkedEvent:
    """A parked webhook event as the CLI and the API list it."""

    event_id: int
    event_type: str
    conversation_id: str | None
    failures: int
    reason: str | None
    received_at: datetime


async def list_parked_events(db: Database, *, limit: int = 100) -> list[ParkedEvent]:
    """Parked webhook events (processing failed the same way again and again), newest first."""
    # Not the body (it may be large): only what the listing shows.
    query: Any = (
        sa_select(
            col(WebhookEvent.id),
            col(WebhookEvent.event_type),
            col(WebhookEvent.conversation_id),
            col(WebhookEvent.failures),
            col(WebhookEvent.error),
            col(WebhookEvent.received_at),
        )
        .where(col(WebhookEvent.status) == PARKED_EVENT)
        .order_by(col(WebhookEvent.id).desc())
        .limit(limit)
    )
    async with db.read() as s:
        rows = (await s.exec(query)).all()
    return [
        ParkedEvent(ident or 0, kind, conversation, failures, error, received)
        for ident, kind, conversation, failures, error, received in rows
    ]


async def requeue_event(db: Database, event_id: int) -> bool:
    """Put a parked webhook event back to be processed (the stored-event sweep enqueues it).

    Returns:
        False when the event is not parked.
    """
    async with db.session() as s:
        result: Any = await s.exec(
            update(WebhookEvent)
            .where(col(WebhookEvent.id) == event_id, col(WebhookEvent.status) == PARKED_EVENT)
            .values(status="received", failures=0, error=None)
        )
    moved = int(result.rowcount) == 1
    if moved:
        log.info("webhook_event.requeued", event_id=event_id)
    return moved


async def count_event_failure(deps: Deps, event_id: int, exc: BaseException) -> bool:
    """Count one failed processing of a stored webhook event; park it at the Nth of one kind.

    An event left `received` is enqueued again by the stored-event sweep, so an event whose
    processing always fails would be retried forever; parked, it waits for an operator.

    Returns:
        True when the event is now parked.
    """
    kind, reason = failure_kind(exc), failure_reason(exc)
    limit = deps.settings.park_after_failures
    async with deps.db.session() as s:
        row = (
            await s.exec(
                select(WebhookEvent.status, WebhookEvent.failures, WebhookEvent.error).where(
                    col(WebhookEvent.id) == event_id
                )
            )
        ).first()
        if row is None or row[0] not in ("received", "unmatched"):
            return False
        status, failures, error = row
        same = (error or "").split(":", 1)[0] == kind
        failures = failures + 1 if same else 1
        parks = failures >= limit
        await s.exec(
            update(WebhookEvent)
            .where(col(WebhookEvent.id) == event_id, col(WebhookEvent.status) == status)
            .values(failures=failures, error=reason, status=PARKED_EVENT if parks else status)
        )
    if parks:
        log.warning("webhook_event.parked", event_id=event_id, kind=kind, reason=reason)
        await _count(deps, "webhook_events_parked_total")
    else:
        log.warning("webhook_event.failed", event_id=event_id, kind=kind, reason=reason)
    return parks
