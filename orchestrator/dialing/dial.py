"""Dial one attempt, exactly once: the gate, burst, slots, pacing, the claim, then the placing.

queued ─acquire slots─▶ (pace) ─CAS queued→dialing─▶ POST ─▶ initiated   (slots held until the end)
  definite refusal (429, 4xx, unreachable) ─▶ slots released, attempt rescheduled or failed
  ambiguous (timeout, reset, 5xx)          ─▶ unknown: slots kept, the reconciler adopts or frees
  failure before the POST (initiation data that cannot be built or sent, a crash)
                                           ─▶ slots released, counted: rescheduled, then parked
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator import keys
from orchestrator.deps import Deps
from orchestrator.dialing.initiation import Recalled, initiation_for
from orchestrator.dialing.send import (
    CLAIM_MARGIN_SECS,
    POST_SLACK_SECS,
    PROVIDER_BUSY_DELAY_SECS,
    DialResultKind,
    Loaded,
    dial_deadline_secs,
    move,
    post_and_record,
    undo_count,
)
from orchestrator.domain.attempt import LIVE, AttemptState
from orchestrator.domain.campaign_policy import CampaignPolicy, policy_of
from orchestrator.domain.outcome import Disposition
from orchestrator.domain.windows.location import locate
from orchestrator.errors import SecretsUnavailable
from orchestrator.lifecycle import (
    INFRASTRUCTURE_ERRORS,
    count_failure,
    end_attempt,
    failure_kind,
    failure_reason,
    recall,
)
from orchestrator.limiter.burst import budget_day
from orchestrator.limiter.scopes import NUMBER_BUSY_DELAY_SECS, CallScopes, scopes_for
from orchestrator.limiter.slots import Acquired
from orchestrator.rules.gate import admit
from orchestrator.store.attempts import transition
from orchestrator.store.models import Attempt, Campaign, Contact, DoNotCall

log = structlog.get_logger(__name__)

#: How long a dial job waits for a free slot before handing the attempt back to the dispatcher.
SLOT_WAIT_SECS = 20.0


@dataclass(frozen=True)
class _Read:
    """Everything a dial reads before its claim, in one read transaction."""

    loaded: Loaded
    listed: bool
    recalled: Recalled


async def _load(deps: Deps, attempt_id: int) -> _Read | None:
    async with deps.db.quick() as s:
        row = (
            await s.exec(
                select(Attempt, Contact, Campaign)
                .join(Contact, col(Contact.id) == Attempt.contact_id)
                .join(Campaign, col(Campaign.id) == Attempt.campaign_id)
                .where(col(Attempt.id) == attempt_id)
            )
        ).first()
        if row is None:
            return None
        attempt, contact, campaign = row
        if attempt.state != AttemptState.QUEUED:
            return _Read(Loaded(attempt, contact, campaign), False, Recalled(None))
        listed = await s.get(DoNotCall, attempt.phone_number) is not None
        context = await recall(s, contact.external_id) if deps.settings.context.enabled else None
        return _Read(Loaded(attempt, contact, campaign), listed, Recalled(context))


async def _acquire(deps: Deps, attempt_id: int, scopes: CallScopes) -> Acquired:
    """Take every slot, waiting (woken by releases) while only the account or campaign is full."""
    loop_deadline = deps.clock() + SLOT_WAIT_SECS
    await deps.waiter.start()
    woken = False
    while True:
        got = await _take(deps, attempt_id, scopes)
        if got.ok or got.full_scope == keys.SCOPE_NUMBER:
            return got
        if woken and got.full_scope != keys.SCOPE_ACCOUNT:
            # The freed slot is no use to us (our campaign or agent is full): let the next
            # waiter have the wake rather than leave the slot idle.
            deps.waiter.pass_on()
        remaining = loop_deadline - deps.clock()
        if remaining <= 0:
            return got
        woken = await deps.waiter.wait(min(remaining, 1.0))


async def _take(deps: Deps, attempt_id: int, scopes: CallScopes) -> Acquired:
    return await deps.limiter.acquire(
        attempt_id,
        scopes.account,
        scopes.others,
        account_cap=scopes.account_cap,
        now=deps.clock(),
        lease_secs=deps.settings.max_call_secs + deps.settings.lease_margin_secs,
    )


async def _pace(deps: Deps) -> None:
    while (wait := await deps.pacing.take(deps.clock())) > 0:
        await asyncio.sleep(wait)


async def _requeue(deps: Deps, attempt_id: int, delay: float, expected: AttemptState) -> None:
    await move(
        deps,
        attempt_id,
        expected,
        AttemptState.SCHEDULED,
        due_at=deps.now() + timedelta(seconds=max(0.0, delay)),
        queued_at=None,
    )


def _local_hour(deps: Deps, contact: Contact, policy: CampaignPolicy) -> int:
    """Hour of day in the contact's (first) zone on the calendar, for reports."""
    zone = locate(contact.phone_number, contact.timezone, policy.timezone).zones[0]
    return deps.calendar.now().astimezone(ZoneInfo(zone)).hour


@dataclass
class _Progress:
    """How far one dial job got: whether the attempt is claimed by this job."""

    claimed: bool = False


@dataclass(frozen=True)
class _Ready:
    """A claimed attempt with its slots and initiation data: all that is left is the POST."""

    loaded: Loaded
    initiation: dict[str, Any]
    scopes: CallScopes


async def dial_attempt(deps: Deps, attempt_id: int) -> DialResultKind:
    """Dial one queued attempt (the arq job `dial_attempt` calls this).

    Everything before the POST is guarded: a failure there placed nothing, so it is counted
    against the attempt (`tracking/parking.py`) — rescheduled, then parked when it keeps failing
    the same way — instead of leaving the attempt `queued` or `dialing` to be retried forever.
    """
    progress = _Progress()
    try:
        ready = await _prepare(deps, attempt_id, progress)
    except INFRASTRUCTURE_ERRORS:
        raise  # not the record's fault: the stale-queue sweep or the reconciler takes it up
    except Exception as exc:
        log.exception("dial.failed_before_post", attempt_id=attempt_id)
        return await _failed_before_post(
            deps, attempt_id, progress, failure_kind(exc), failure_reason(exc)
        )
    if isinstance(ready, DialResultKind):
        return ready
    return await post_and_record(deps, ready.loaded, ready.initiation, ready.scopes)


async def _failed_before_post(
    deps: Deps, attempt_id: int, progress: _Progress, kind: str, reason: str
) -> DialResultKind:
    """Count a failure of an attempt this job had not yet dialled (nothing was sent)."""
    # Only this job's own claim may be undone: another job may hold `dialing` for the attempt.
    expected = [AttemptState.DIALING] if progress.claimed else [AttemptState.QUEUED]
    moved = await count_failure(
        deps, attempt_id, expected, kind, reason, undo_count=progress.claimed
    )
    if moved is None:
        return DialResultKind.SKIPPED
    return DialResultKind.PARKED if moved is AttemptState.PARKED else DialResultKind.REQUEUED


async def _prepare(deps: Deps, attempt_id: int, progress: _Progress) -> _Ready | DialResultKind:
    """The gate, the initiation data, burst, slots, pacing and the claim: all but the POST."""
    read = await _load(deps, attempt_id)
    if read is None or read.loaded.attempt.state != AttemptState.QUEUED:
        return DialResultKind.SKIPPED
    loaded = read.loaded
    attempt, contact, campaign = loaded.attempt, loaded.contact, loaded.campaign
    assert campaign.id is not None
    policy = policy_of(campaign.config)
    today = deps.calendar.now()
    gate = await admit(deps, attempt, contact, campaign, policy, today, listed=read.listed)
    if gate.cancel_reason is not None:
        await end_attempt(
            deps, attempt_id, [AttemptState.QUEUED], AttemptState.CANCELED, gate.cancel_reason
        )
        return DialResultKind.CANCELED
    if gate.not_before is not None:
        wait = deps.calendar.real_ts(gate.not_before) - deps.clock()
        await _requeue(deps, attempt_id, wait, AttemptState.QUEUED)
        return DialResultKind.REQUEUED

    # Built before waiting for a slot, so a freed slot goes straight to the claim and the POST.
    try:
        initiation = await initiation_for(
            deps, attempt, contact, campaign, policy, recalled=read.recalled
        )
    except SecretsUnavailable as exc:
        # This call cannot be placed as it stands (a secret no key opens, a persona gone, a
        # value that cannot be sent): counted, and parked if it keeps failing.
        return await _failed_before_post(deps, attempt_id, progress, failure_kind(exc), str(exc))

    closes_at = deps.calendar.real_ts(gate.closes_at) if gate.closes_at else None
    grant = await deps.burst.grant(
        campaign.id, policy, now=deps.clock(), closes_at=closes_at, day=budget_day(today, policy)
    )
    scopes = scopes_for(
        deps.settings, campaign, attempt.phone_number, allow_burst=grant.allowed, policy=policy
    )
    got = await _acquire(deps, attempt_id, scopes)
    await deps.burst.settle(campaign.id, grant, did_burst=got.ok and got.is_burst)
    if not got.ok:
        delay = NUMBER_BUSY_DELAY_SECS if got.full_scope == keys.SCOPE_NUMBER else 0.0
        await _requeue(deps, attempt_id, delay, AttemptState.QUEUED)
        return DialResultKind.REQUEUED
    await _pace(deps)
    if closes_at is not None and deps.clock() >= closes_at:
        # The window closed while this job waited for a slot: the dispatcher will move the
        # attempt to the next opening.
        await deps.limiter.release(attempt_id, scopes.all)
        await _requeue(deps, attempt_id, 0.0, AttemptState.QUEUED)
        return DialResultKind.REQUEUED

    if not await _claim(deps, attempt_id, contact, policy, got.is_burst):
        await _release_unless_live(deps, attempt_id, scopes)
        return DialResultKind.SKIPPED
    progress.claimed = True
    # Re-assert the leases now that the claim is ours: they may have been freed while this job
    # waited for pacing (e.g. a stale-queue sweep). The call never goes out without them.
    if not (await _take(deps, attempt_id, scopes)).ok:
        async with deps.db.session() as s:
            if await transition(
                s,
                attempt_id,
                [AttemptState.DIALING],
                AttemptState.SCHEDULED,
                due_at=deps.now(),
                queued_at=None,
            ):
                await undo_count(s, contact.id)
        return DialResultKind.REQUEUED
    return _Ready(loaded, initiation, scopes)


async def _claim(
    deps: Deps, attempt_id: int, contact: Contact, policy: CampaignPolicy, is_burst: bool
) -> bool:
    """queued → dialing (compare-and-set): from here on, only this job may dial the attempt."""
    hour = _local_hour(deps, contact, policy)

    async def work(s: AsyncSession) -> bool:
        moved = await transition(
            s,
            attempt_id,
            [AttemptState.QUEUED],
            AttemptState.DIALING,
            dial_started_at=deps.now(),
            is_burst=is_burst,
            local_hour=hour,
        )
        if moved:
            await s.exec(
                update(Contact)
                .where(col(Contact.id) == contact.id)
                .values(
                    attempts_made=col(Contact.attempts_made) + 1,
                    disposition=Disposition.IN_PROGRESS.value,
                    updated_at=deps.now(),
                )
            )
        return moved

    return await deps.commits.run(work)


async def _release_unless_live(deps: Deps, attempt_id: int, scopes: CallScopes) -> None:
    """Drop slots taken for a claim we lost, unless another job's call now holds them.

    Slots are keyed by attempt, so when the winner is another claim of this same attempt they
    are the winner's slots: freeing them would let an over-limit call through.
    """
    async with deps.db.quick() as s:
        row = await s.get(Attempt, attempt_id)
    if row is None or AttemptState(row.state) not in LIVE:
        await deps.limiter.release(attempt_id, scopes.all)


__all__ = [
    "CLAIM_MARGIN_SECS",
    "POST_SLACK_SECS",
    "PROVIDER_BUSY_DELAY_SECS",
    "DialResultKind",
    "dial_attempt",
    "dial_deadline_secs",
]
