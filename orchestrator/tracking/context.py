"""Context carried between calls: what the last completed conversation left behind.

Kept per person (the CRM's external id), so the next call to them, in any campaign, receives it
as dynamic variables.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.store.models import Attempt, Campaign, Contact, ContactContext, Outcome
from orchestrator.store.types import utcnow


async def remember(
    s: AsyncSession, attempt: Attempt, contact: Contact, campaign: Campaign, outcome: Outcome
) -> None:
    """Record what the ended conversation tells the next one (connected calls only)."""
    if outcome.state not in ("completed", "voicemail"):
        return
    context = await s.get(ContactContext, contact.external_id)
    if context is None:
        context = ContactContext(external_id=contact.external_id, phone_number=contact.phone_number)
    context.phone_number = contact.phone_number
    context.conversation_id = outcome.conversation_id
    context.campaign_name = campaign.name
    context.last_call_at = attempt.ended_at or utcnow()
    context.last_outcome = (
        outcome.call_successful if outcome.state == "completed" else outcome.state
    )
    if outcome.transcript_summary:
        context.last_summary = outcome.transcript_summary
    context.collected = {**context.collected, **outcome.data_collection}
    context.updated_at = utcnow()
    s.add(context)
