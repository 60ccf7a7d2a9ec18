"""Factories for rows the tests need."""

from __future__ import annotations

from typing import Any

from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Campaign, Contact


async def make_campaign(db: Database, name: str = "c1", **fields: Any) -> Campaign:
    """A campaign with test defaults."""
    values: dict[str, Any] = {
        "name": name,
        "agent_id": "agent_test",
        "phone_number_id": "phnum_test",
        **fields,
    }
    async with db.session() as s:
        campaign = Campaign(**values)
        s.add(campaign)
        await s.flush()
        return campaign


async def make_contact(
    db: Database,
    campaign: Campaign,
    external_id: str = "crm-1",
    phone: str = "+14155550123",
    *,
    attempt_state: str | None = "scheduled",
    **fields: Any,
) -> tuple[Contact, Attempt | None]:
    """A contact and (unless `attempt_state` is None) its first attempt."""
    assert campaign.id is not None
    async with db.session() as s:
        contact = Contact(
            campaign_id=campaign.id,
            external_id=external_id,
            phone_number=phone,
            **{"variables": {"customer_name": "Ada"}, **fields},
        )
        s.add(contact)
        await s.flush()
        attempt = None
        if attempt_state is not None:
            assert contact.id is not None
            attempt = Attempt(
                campaign_id=campaign.id,
                contact_id=contact.id,
                phone_number=phone,
                state=attempt_state,
            )
            s.add(attempt)
            await s.flush()
        return contact, attempt
