"""The do-not-call list: a number on it is never dialled again, in any campaign.

A number gets there by an operator or the CRM (`POST /v1/do-not-call`, `opt-out` routes) or by the
person asking during a call (the data-collection item `opt_out_field`); every waiting attempt to
it is canceled at once, even queued ones.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.domain.attempt import CANCELABLE, AttemptState
from orchestrator.domain.outcome import Disposition
from orchestrator.store.engine import insert_missing
from orchestrator.store.models import Attempt, Contact, DoNotCall, Outcome
from orchestrator.store.types import utcnow


def opted_out(outcome: Outcome, field: str) -> bool:
    """True when the call's data collection says the person asked not to be called again."""
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
