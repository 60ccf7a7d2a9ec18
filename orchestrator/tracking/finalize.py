"""What happens once an attempt is terminal: slots freed, contact updated, retry planned — once.

`retry_planned` is flipped by compare-and-set in the same transaction that plans the next attempt,
so however many times news of the end arrives, one retry at most is created. Releasing slots is
idempotent and is done on every call, so a crash between commit and release cannot leak a slot.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.dialing.scopes import scopes_for
from orchestrator.domain.attempt import CANCELABLE, AttemptState, is_terminal
from orchestrator.domain.campaign_policy import policy_of
from orchestrator.domain.outcome import FINAL_DISPOSITIONS, Disposition
from orchestrator.domain.policy import RetryRules, retry_delay
from orchestrator.runtime import Deps
from orchestrator.store.models import Attempt, Campaign, Contact, DoNotCall, Outcome
from orchestrator.store.types import utcnow
from orchestrator.tracking.context import remember
from orchestrator.tracking.notify import queue_final

log = structlog.get_logger(__name__)


def _rules(campaign: Campaign) -> RetryRules:
    retry = policy_of(campaign.config).retry
    return RetryRules(max_attempts=retry.max_attempts, delay_secs=dict(retry.delay_secs))


async def finish_attempt(deps: Deps, attempt_id: int) -> None:
    """Bookkeeping for a terminal attempt; safe to call any number of times."""
    async with deps.db.session() as s:
        attempt = await s.get(Attempt, attempt_id)
        if attempt is None or not is_terminal(attempt.state):
            return
        campaign = await s.get(Campaign, attempt.campaign_id)
        contact = await s.get(Contact, attempt.contact_id)
        assert campaign is not None and contact is not None
        outcome = (await s.exec(select(Outcome).where(Outcome.attempt_id == attempt_id))).first()
        claimed: Any = await s.exec(
            update(Attempt)
            .where(col(Attempt.id) == attempt_id, col(Attempt.retry_planned).is_(False))
            .values(retry_planned=True)
        )
        if int(claimed.rowcount) == 1:
            await _settle_contact(deps, s, attempt, contact, campaign, outcome)
    await release_slots(deps, attempt_id, campaign, attempt.phone_number)


async def release_slots(deps: Deps, attempt_id: int, campaign: Campaign, phone: str) -> None:
    """Free every slot the attempt may hold (idempotent)."""
    await deps.limiter.release(attempt_id, scopes_for(deps.settings, campaign, phone).all)


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
    now = utcnow()
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
                due_at=now + timedelta(seconds=delay),
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
    if await s.get(DoNotCall, phone) is None:
        s.add(DoNotCall(phone_number=phone, reason=reason[:200]))
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
                [Disposition.PENDING.value, Disposition.IN_PROGRESS.value]
            ),
        )
        .values(disposition=Disposition.DO_NOT_CALL.value, updated_at=utcnow())
    )
    return int(result.rowcount)
