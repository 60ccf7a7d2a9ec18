"""What happens once an attempt is terminal: slots freed, contact updated, retry planned — once.

`retry_planned` is flipped by compare-and-set in the same transaction that plans the next attempt,
so however many times news of the end arrives, one retry at most is created. Releasing slots is
idempotent and is done on every call, so a crash between commit and release cannot leak a slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.deps import Deps
from orchestrator.domain.attempt import CANCELABLE, TERMINAL, AttemptState, is_terminal
from orchestrator.domain.campaign_policy import policy_of
from orchestrator.domain.outcome import FINAL_DISPOSITIONS, Disposition
from orchestrator.domain.retry import RetryRules, retry_delay
from orchestrator.domain.windows.contact import place_of, window_at
from orchestrator.lifecycle.memory import remember
from orchestrator.lifecycle.notify import queue_final
from orchestrator.lifecycle.slots import release_slots
from orchestrator.limiter.burst import budget_day
from orchestrator.store.engine import insert_missing
from orchestrator.store.models import Attempt, Campaign, Contact, DoNotCall, Outcome
from orchestrator.store.types import utcnow

log = structlog.get_logger(__name__)


def _rules(campaign: Campaign) -> RetryRules:
    retry = policy_of(campaign.config).retry
    return RetryRules(max_attempts=retry.max_attempts, delay_secs=dict(retry.delay_secs))


async def finish_attempt(deps: Deps, attempt_id: int) -> None:
    """Bookkeeping for a terminal attempt; safe to call any number of times."""
    async with deps.db.quick() as s:
        ended = await s.get(Attempt, attempt_id)
        if ended is None or not is_terminal(ended.state):
            return
        owner = await s.get(Campaign, ended.campaign_id)
    assert owner is not None
    # The call is over: free its slots before the bookkeeping, so a dial waiting for one
    # takes it at once (the release is idempotent; the terminal state is already committed).
    await release_slots(deps, attempt_id, owner, ended.phone_number)
    if ended.retry_planned:
        return  # settled already (news of an end often comes twice)

    async def settle(s: AsyncSession) -> tuple[bool, Outcome | None]:
        return await settle_in(deps, s, attempt_id)

    # Through the group commit: the end-of-call bookkeeping of many calls shares one commit.
    settled, outcome = await deps.bookkeeping.run(settle)
    if settled:
        await count_burst_surcharge(deps, owner, outcome)


@dataclass(frozen=True)
class Locked:
    """An attempt's rows, read in the caller's transaction with the attempt's row locked."""

    attempt: Attempt
    contact: Contact
    campaign: Campaign
    outcome: Outcome | None


async def lock_rows(s: AsyncSession, attempt_id: int) -> Locked | None:
    """Lock the attempt's row, then read it with its contact, campaign and outcome in one query.

    On Postgres the row lock orders concurrent merges of one call. It is taken by a statement of
    its own: a joined `FOR UPDATE` that waited for another merge would re-read the attempt but
    not the outcome that merge inserted (its snapshot predates it), and insert a second one.
    SQLite's write lock, held by the caller's transaction, serializes merges already.
    """
    if (await s.connection()).dialect.name == "postgresql":
        await s.exec(select(Attempt.id).where(col(Attempt.id) == attempt_id).with_for_update())
    row = (
        await s.exec(
            select(Attempt, Contact, Campaign, Outcome)
            .join(Contact, col(Contact.id) == Attempt.contact_id)
            .join(Campaign, col(Campaign.id) == Attempt.campaign_id)
            .outerjoin(Outcome, col(Outcome.attempt_id) == Attempt.id)
            .where(col(Attempt.id) == attempt_id)
        )
    ).first()
    return Locked(*row) if row is not None else None


async def settle_in(
    deps: Deps, s: AsyncSession, attempt_id: int, *, locked: Locked | None = None
) -> tuple[bool, Outcome | None]:
    """The bookkeeping of a terminal attempt inside the caller's write transaction.

    Plans the retry and updates the contact exactly once: `retry_planned` is flipped by
    compare-and-set, or, when the caller holds the attempt's row lock (`locked`, from
    `lock_rows` in this transaction), checked and set under that lock.

    Returns:
        Whether this call settled it (False: settled already), and the attempt's outcome.
    """
    if locked is not None:
        if locked.attempt.retry_planned:
            return False, None
        locked.attempt.retry_planned = True
        s.add(locked.attempt)
        attempt, contact, campaign, outcome = (
            locked.attempt,
            locked.contact,
            locked.campaign,
            locked.outcome,
        )
    else:
        claimed: Any = await s.exec(
            update(Attempt)
            .where(col(Attempt.id) == attempt_id, col(Attempt.retry_planned).is_(False))
            .values(retry_planned=True)
        )
        if int(claimed.rowcount) != 1:
            return False, None
        rows = await lock_rows(s, attempt_id)
        assert rows is not None  # the compare-and-set above found it
        attempt, contact, campaign, outcome = (
            rows.attempt,
            rows.contact,
            rows.campaign,
            rows.outcome,
        )
    await _settle_contact(deps, s, attempt, contact, campaign, outcome)
    return True, outcome


async def settle_unfinished(deps: Deps, *, older_than_secs: float = 5.0, limit: int = 200) -> int:
    """Finish ended attempts whose bookkeeping never ran (a worker died right after the end).

    Returns:
        How many were finished.
    """
    cutoff = deps.now() - timedelta(seconds=older_than_secs)
    async with deps.db.read() as s:
        ids = (
            await s.exec(
                select(Attempt.id)
                .where(
                    col(Attempt.retry_planned).is_(False),
                    col(Attempt.state).in_([st.value for st in TERMINAL]),
                    col(Attempt.updated_at) < cutoff,
                )
                .limit(limit)
            )
        ).all()
    for attempt_id in ids:
        assert attempt_id is not None
        await finish_attempt(deps, attempt_id)
    if ids:
        log.warning("attempt.settled_late", attempts=len(ids))
    return len(ids)


async def count_burst_surcharge(deps: Deps, campaign: Campaign, outcome: Outcome | None) -> None:
    """Add a burst call's extra credits (half its 2× bill) to the campaign's daily budget.

    Called once per settled attempt, after the commit that settled it.
    """
    if outcome is None or not outcome.is_burst or not outcome.cost_credits or campaign.id is None:
        return
    day = budget_day(deps.calendar.now(), policy_of(campaign.config))
    await deps.burst.add_extra_credits(campaign.id, day, outcome.cost_credits / 2)


def _retry_due(deps: Deps, contact: Contact, campaign: Campaign, earliest: datetime) -> datetime:
    """`earliest`, or the next opening of the contact's calling window after it.

    Planning it here keeps closed windows out of the dispatcher's due set; a window that never
    opens again is left to the dispatcher, which cancels the attempt with the reason.
    """
    policy = policy_of(campaign.config)
    calendar = deps.calendar
    place = place_of(contact.phone_number, contact.timezone, policy.timezone)
    window = window_at(policy, deps.settings.legal, place, calendar.at(earliest.timestamp()))
    if window.verdict.opens_at is not None:
        return calendar.to_real(window.verdict.opens_at)
    return earliest


async def _settle_contact(
    deps: Deps,
    s: AsyncSession,
    attempt: Attempt,
    contact: Contact,
    campaign: Campaign,
    outcome: Outcome | None,
) -> None:
    """Update the contact from its ended attempt and tell the CRM when it became final."""
    before = contact.disposition
    contact.last_outcome = attempt.state
    if outcome is not None and outcome.transferred:
        contact.transferred = True
    await _apply_disposition(deps, s, attempt, contact, campaign, outcome)
    final = {d.value for d in FINAL_DISPOSITIONS} | {Disposition.VOICEMAIL.value}
    if contact.disposition != before and contact.disposition in final:
        await queue_final(s, campaign, contact, attempt, outcome)


async def _apply_disposition(
    deps: Deps,
    s: AsyncSession,
    attempt: Attempt,
    contact: Contact,
    campaign: Campaign,
    outcome: Outcome | None,
) -> None:
    state = AttemptState(attempt.state)
    now = deps.now()
    contact.updated_at = now
    if outcome is not None:
        if outcome.transcript_summary:
            contact.last_summary = outcome.transcript_summary
        await remember(s, attempt, contact, campaign, outcome)
    if contact.disposition == Disposition.DO_NOT_CALL:
        return
    if outcome is not None and _opted_out(outcome, deps.settings.opt_out_field):
        outcome.opted_out = True
        s.add(outcome)
        await add_do_not_call(s, attempt.phone_number, "opted out during a call")
        contact.disposition = Disposition.DO_NOT_CALL
        return
    if state is AttemptState.CANCELED:
        contact.disposition = Disposition.CANCELED
        return
    successful = outcome.call_successful if outcome else attempt.call_successful
    delay = None
    if campaign.status == "active":
        delay = retry_delay(_rules(campaign), state, successful, contact.attempts_made)
    if delay is not None:
        s.add(
            Attempt(
                campaign_id=campaign.id or 0,
                contact_id=contact.id or 0,
                seq=attempt.seq + 1,
                phone_number=contact.phone_number,
                due_at=_retry_due(deps, contact, campaign, now + timedelta(seconds=delay)),
                # A retry is the same intended call: values given for it (POST /v1/calls) stay.
                call_data=dict(attempt.call_data or {}),
            )
        )
        contact.disposition = Disposition.PENDING
    elif state is AttemptState.COMPLETED:
        contact.disposition = Disposition.REACHED
        contact.disposition_detail = successful or "unknown"
    elif state is AttemptState.VOICEMAIL:
        contact.disposition = Disposition.VOICEMAIL
    else:
        contact.disposition = Disposition.UNREACHABLE
        contact.disposition_detail = state.value
    log.info(
        "attempt.finished",
        attempt_id=attempt.id,
        state=state.value,
        retry_in=delay,
        disposition=contact.disposition,
    )


def _opted_out(outcome: Outcome, field: str) -> bool:
    value = outcome.data_collection.get(field)
    return value is True or (isinstance(value, str) and value.lower() in ("true", "yes"))


async def add_do_not_call(s: AsyncSession, phone: str, reason: str) -> int:
    """Put `phone` on the do-not-call list and cancel every pending attempt to it, in any campaign.

    Returns:
        How many attempts were canceled.
    """
    # Not get-then-add: on Postgres a concurrent opt-out of the same number would collide on
    # the key (SQLite's write lock serializes them). A number already listed keeps its reason.
    await insert_missing(s, DoNotCall, phone_number=phone, reason=reason[:200], created_at=utcnow())
    result: Any = await s.exec(
        update(Attempt)
        .where(
            col(Attempt.phone_number) == phone,
            col(Attempt.state).in_([st.value for st in CANCELABLE]),
        )
        .values(state=AttemptState.CANCELED.value, updated_at=utcnow(), retry_planned=True)
    )
    await s.exec(
        update(Contact)
        .where(
            col(Contact.phone_number) == phone,
            col(Contact.disposition).in_(
                [Disposition.PENDING.value, Disposition.IN_PROGRESS.value, Disposition.PARKED.value]
            ),
        )
        .values(disposition=Disposition.DO_NOT_CALL.value, updated_at=utcnow())
    )
    return int(result.rowcount)
