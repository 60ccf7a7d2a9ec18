"""Campaign look-ups, creation and updates (fields are checked by `intake/campaign_spec.py`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.domain.text import shown, text_problem
from orchestrator.errors import CampaignExists, NotFound
from orchestrator.store.models import Campaign
from orchestrator.store.types import utcnow


async def get_by_name(session: AsyncSession, name: str) -> Campaign:
    """The campaign called `name`.

    Raises:
        NotFound: no such campaign.
    """
    if text_problem(name):
        # No campaign can be named so (names are checked); PostgreSQL refuses a NUL even in a
        # lookup, and no UTF-8 encoder takes a lone surrogate: never ask the database.
        raise NotFound("campaign", shown(name))
    campaign = (await session.exec(select(Campaign).where(Campaign.name == name))).first()
    if campaign is None:
        raise NotFound("campaign", name)
    return campaign


#: The largest id a database integer key holds.
MAX_ID = 2**63 - 1


async def get_by_ref(session: AsyncSession, ref: str | int) -> Campaign:
    """The campaign with numeric id `ref`, else the one named `ref`.

    Raises:
        NotFound: no such campaign.
    """
    text = str(ref).strip()
    # ASCII digits within SQL's 64-bit integers: `isdigit` accepts "²", which `int` refuses.
    if text.isascii() and text.isdigit() and int(text) <= MAX_ID:
        campaign = await session.get(Campaign, int(text))
        if campaign is not None:
            return campaign
    try:
        return await get_by_name(session, text)
    except NotFound:
        raise NotFound("campaign", shown(text)) from None


async def list_campaigns(session: AsyncSession) -> list[Campaign]:
    """Every campaign, oldest first."""
    return list((await session.exec(select(Campaign).order_by(col(Campaign.id)))).all())


async def create_campaign(
    session: AsyncSession,
    name: str,
    *,
    agent_id: str,
    phone_number_id: str,
    phone_number_kind: str,
    weight: int,
    config: dict[str, Any],
) -> Campaign:
    """Create a campaign from checked fields.

    Raises:
        CampaignExists: the name is taken.
    """
    if (await session.exec(select(Campaign.id).where(Campaign.name == name))).first():
        raise CampaignExists(name)
    campaign = Campaign(
        name=name,
        agent_id=agent_id,
        phone_number_id=phone_number_id,
        phone_number_kind=phone_number_kind,
        weight=weight,
        config=config,
    )
    session.add(campaign)
    try:
        await session.flush()
    except IntegrityError:
        # Created by a concurrent request between the check and the insert.
        raise CampaignExists(name) from None
    return campaign


async def update_campaign(
    session: AsyncSession, campaign: Campaign, *, config: dict[str, Any], **columns: Any
) -> Campaign:
    """Replace a campaign's policy and columns (already checked); returns the stored row."""
    stored = await session.get(Campaign, campaign.id)
    if stored is None:
        raise NotFound("campaign", campaign.id)
    for name, value in columns.items():
        setattr(stored, name, value)
    stored.config = config
    stored.updated_at = utcnow()
    session.add(stored)
    await session.flush()
    return stored
