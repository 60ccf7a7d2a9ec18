"""One call now (`POST /v1/calls`): the contact upserted, an attempt due now with this call's
own values (variables, persona, overrides) in `Attempt.call_data`, validated and secret-sealed.

The row patches a known contact like any other write (`upsert.py`): a call to a contact the
campaign has needs its `external_id` only, and never erases what it leaves out.

The attempt still goes through the dialer's gate, so calling hours, the do-not-call list,
concurrency and pacing apply as to any other call. A contact already being called (an attempt
queued or live) is refused; a contact already waiting for an attempt has that attempt moved to
now and given the call's values, so a repeated request never creates two calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.domain.attempt import LIVE, AttemptState
from orchestrator.domain.outcome import Disposition
from orchestrator.domain.overrides import clean_overrides
from orchestrator.domain.variables import clean_variables
from orchestrator.errors import CallRefused, ValidationFailed
from orchestrator.intake.rows import ContactRow, RowRules, check_secrets
from orchestrator.intake.schema import CallValues
from orchestrator.intake.upsert import RowResult, upsert_batch
from orchestrator.secretbox import SecretBox
from orchestrator.store.models import Attempt, Campaign, Contact, DoNotCall
from orchestrator.store.types import utcnow

#: Attempt states in which a call to the contact is already under way.
BUSY = frozenset({AttemptState.QUEUED, *LIVE})


@dataclass(frozen=True)
class CallScheduled:
    """The attempt that will place the call."""

    attempt_id: int
    contact_id: int
    contact_result: RowResult
    due_at: datetime
    campaign_status: str


def check_call_values(values: CallValues, rules: RowRules) -> dict[str, Any]:
    """This call's values as stored in `call_data` (secrets still in clear).

    Raises:
        ValidationFailed: each problem, its field under `call.`.
    """
    problems: list[tuple[str, str]] = []
    variables: dict[str, Any] = {}
    try:
        # Required variables are the contact's business: this layer only adds or overrides.
        variables = clean_variables(
            values.variables,
            rules.agent,
            encode_objects=rules.encode_objects,
            prefix="call.variables",
            require=False,
        )
    except ValidationFailed as exc:
        problems.extend(exc.problems)
    check_secrets(variables, rules, problems, "call.variables.")
    reason = rules.persona_problem(values.persona)
    if reason:
        problems.append(("call.persona", reason))
    overrides: dict[str, Any] = {}
    try:
        overrides = clean_overrides(
            values.overrides, rules.allowed_overrides, prefix="call.overrides"
        )
    except ValidationFailed as exc:
        problems.extend(exc.problems)
    if problems:
        raise ValidationFailed(problems)
    data: dict[str, Any] = {}
    if variables:
        data["variables"] = variables
    if values.persona:
        data["persona"] = values.persona
    if overrides:
        data["overrides"] = overrides
    return data


async def schedule_call(
    s: AsyncSession,
    campaign: Campaign,
    row: ContactRow,
    call_data: dict[str, Any],
    box: SecretBox,
) -> CallScheduled:
    """Upsert the contact (a patch of a known one) and make its attempt due now with
    `call_data`. Raising leaves the caller's transaction to roll back the upsert.

    Raises:
        ValidationFailed: the row cannot be applied (a new contact without a number, or the
            contact would lack a required variable).
        CallRefused: the campaign is canceled, the number is on the do-not-call list, or a call
            to the contact is already queued or live.
    """
    if campaign.status == "canceled":
        raise CallRefused("campaign_canceled", f"campaign {campaign.name!r} is canceled")
    [upserted] = await upsert_batch(s, campaign, [row], box)
    if upserted.contact_id is None:
        raise ValidationFailed(list(upserted.problems))
    contact = await s.get(Contact, upserted.contact_id)
    assert contact is not None and contact.id is not None
    # The stored number: the row may have left it out.
    blocked = await s.get(DoNotCall, contact.phone_number)
    if blocked is not None:
        raise CallRefused(
            "do_not_call", f"{contact.phone_number} is on the do-not-call list ({blocked.reason})"
        )
    if contact.disposition == Disposition.DO_NOT_CALL:
        raise CallRefused("do_not_call", "the contact has opted out")
    attempts = list(
        (
            await s.exec(
                select(Attempt)
                .where(Attempt.contact_id == contact.id)
                .order_by(col(Attempt.seq).desc())
            )
        ).all()
    )
    busy = next((a for a in attempts if a.state in BUSY), None)
    if busy is not None:
        raise CallRefused(
            "call_in_progress",
            f"a call to {row.external_id!r} is already under way (attempt {busy.id}, {busy.state})",
        )
    sealed = dict(call_data)
    if "variables" in sealed:
        sealed["variables"] = box.seal(sealed["variables"])
    now = utcnow()
    # A parked attempt is the same intended call: the request re-queues it with its new values.
    waiting = next(
        (a for a in attempts if a.state in (AttemptState.SCHEDULED, AttemptState.PARKED)), None
    )
    if waiting is None:
        seq = int(
            (
                await s.exec(
                    select(func.coalesce(func.max(Attempt.seq), 0)).where(
                        Attempt.contact_id == contact.id
                    )
                )
            ).one()
        )
        waiting = Attempt(
            campaign_id=campaign.id or 0,
            contact_id=contact.id,
            seq=seq + 1,
            phone_number=contact.phone_number,
        )
    waiting.call_data = sealed
    if waiting.state == AttemptState.PARKED:
        waiting.state = AttemptState.SCHEDULED
        waiting.dial_failures = 0
        waiting.dial_failure_kind = None
    waiting.due_at = now
    waiting.updated_at = now
    s.add(waiting)
    contact.disposition = Disposition.PENDING
    contact.disposition_detail = None
    contact.updated_at = now
    s.add(contact)
    await s.flush()
    assert waiting.id is not None
    return CallScheduled(waiting.id, contact.id, upserted.result, now, campaign.status)
