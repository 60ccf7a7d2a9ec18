"""What happens once an attempt is terminal: slots freed, contact updated, retry planned — once.

`retry_planned` is flipped by compare-and-set in the same transaction that plans the next attempt,
so however many times news of the end arrives, one retry at most is created. Releasing slots is
idempotent and is done on every call, so a crash between commit and release cannot leak a slot.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.deps import Deps
from orchestrator.domain.attempt import TERMINAL, AttemptState, is_terminal
from orchestrator.domain.campaign_policy import policy_of
from orchestrator.domain.outcome import FINAL_DISPOSITIONS, Disposition
from orchestrator.lifecycle.do_not_call import add_do_not_call, opted_out
from orchestrator.lifecycle.memory import remember
from orchestrator.lifecycle.notify import queue_final
from orchestrator.lifecycle.retry import plan_retry
from orchestrator.lifecycle.slots import release_slots
from orchestrator.limiter.burst import budget_day
from orchestrator.limiter.scopes import CallScopes
from orchestrator.store.attempts import transition
from orchestrator.store.models import Attempt, Campaign, Contact, Outcome

log = structlog.get_logger(__name__)


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


async def end_attempt(
    deps: Deps,
    attempt_id: int,
    expected: Collection[AttemptState],
    state: AttemptState,
    reason: str,
    *,
    scopes: CallScopes | None = None,
    undo_count: bool = False,
    **values: Any,
) -> bool:
    """Stop an attempt that will place no call (or whose call never was): once, whoever asks.

    Compare-and-set from one of `expected` into the terminal `state` with `reason`, then the
    bookkeeping of `finish_attempt` (slots freed, contact updated, retry planned, CRM told).

    Args:
        scopes: slots to free even when the compare-and-set lost (a dialer that took them for a
            claim it then could not use); the winner's slots are freed by its own end.
        undo_count: the attempt reached nobody: it does not count against the contact's cap.
        **values: other columns to set with the transition (`ended_at`, `due_at`...).

    Returns:
        Whether this call moved the attempt.
    """
    async with deps.db.session() as s:
        moved = await transition(s, attempt_id, expected, state, error=reason[:500], **values)
        if moved and undo_count:
            attempt = await s.get(Attempt, attempt_id)
            contact = await s.get(Contact, attempt.contact_id) if attempt is not None else None
            if contact is not None and contact.attempts_made > 0:
                contact.attempts_made -= 1
    if scopes is not None:
        await deps.limiter.release(attempt_id, scopes.all)
    if moved:
        await finish_attempt(deps, attempt_id)
    return moved


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
    if outcome is not None and opted_out(outcome, deps.settings.opt_out_field):
        outcome.opted_out = True
        s.add(outcome)
        await add_do_not_call(s, attempt.phone_number, "opted out during a call")
        contact.disposition = Disposition.DO_NOT_CALL
        return
    if state is AttemptState.CANCELED:
        contact.disposition = Disposition.CANCELED
        return
    successful = outcome.call_successful if outcome else attempt.call_successful
    retry = plan_retry(deps, attempt, contact, campaign, successful)
    delay = None
    if retry is not None:
        delay, next_attempt = retry
        s.add(next_attempt)
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
