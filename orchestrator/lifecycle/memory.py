"""Context carried between calls: what the last completed conversation left behind.

Kept per person (the CRM's external id), so the next call to them, in any campaign, receives it
as dynamic variables (names in the `[context]` settings): the summary, the date, the outcome and
the chosen data-collection fields of the last connected call. The agent can pick up where the
last call ended with no change on the provider's side. A person never called before gets the
`missing` value in each, so a prompt using them never lacks one.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.domain.variables import Primitive
from orchestrator.settings import ContextSettings
from orchestrator.store.engine import insert_missing
from orchestrator.store.models import Attempt, Campaign, Contact, ContactContext, Outcome
from orchestrator.store.types import utcnow


async def remember(
    s: AsyncSession, attempt: Attempt, contact: Contact, campaign: Campaign, outcome: Outcome
) -> None:
    """Record what the ended conversation tells the next one (connected calls only)."""
    if outcome.state not in ("completed", "voicemail"):
        return
    # Create if absent, then lock: on Postgres two workers may settle calls with one person (in
    # two campaigns) at once, and a get-then-add would collide on the key while the merge of
    # `collected` below would lose one side. SQLite's write lock serializes both already.
    await insert_missing(
        s,
        ContactContext,
        external_id=contact.external_id,
        phone_number=contact.phone_number,
        collected={},
        updated_at=utcnow(),
    )
    context = await s.get(
        ContactContext, contact.external_id, with_for_update=True, populate_existing=True
    )
    assert context is not None
    context.phone_number = contact.phone_number
    context.conversation_id = outcome.conversation_id
    context.campaign_name = campaign.name
    context.last_call_at = attempt.ended_at or utcnow()
    context.last_outcome = (
        outcome.call_successful if outcome.state == "completed" else outcome.state
    )
    if outcome.transcript_summary:
        context.last_summary = outcome.transcript_summary
    # An item the agent did not collect this time keeps the value an earlier call collected.
    collected = {k: v for k, v in outcome.data_collection.items() if v is not None}
    context.collected = {**context.collected, **collected}
    context.updated_at = utcnow()
    s.add(context)


async def recall(s: AsyncSession, external_id: str) -> ContactContext | None:
    """What the last connected call with this person left, if any."""
    return await s.get(ContactContext, external_id)


def _primitive(value: Any) -> Primitive | None:
    if value is None or value == "":
        return None
    if isinstance(value, str | int | float | bool):
        return value
    # Data collection may yield objects; dynamic variables take primitives only.
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def context_variables(
    context: ContactContext | None, settings: ContextSettings
) -> dict[str, Primitive]:
    """The dynamic variables carrying `context` (every name present; `missing` when unknown)."""
    if not settings.enabled:
        return {}
    found: dict[str, Primitive | None] = {
        settings.summary_variable: None,
        settings.date_variable: None,
        settings.outcome_variable: None,
        **dict.fromkeys(settings.fields.values()),
    }
    if context is not None:
        found[settings.summary_variable] = _primitive(context.last_summary)
        if context.last_call_at is not None:
            found[settings.date_variable] = context.last_call_at.date().isoformat()
        found[settings.outcome_variable] = _primitive(context.last_outcome)
        for item, name in settings.fields.items():
            found[name] = _primitive(context.collected.get(item))
    return {name: settings.missing if value is None else value for name, value in found.items()}
