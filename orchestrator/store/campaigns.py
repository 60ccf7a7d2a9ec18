"""Campaign look-ups and creation."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.domain.campaign_policy import CampaignPolicy
from orchestrator.errors import NotFound
from orchestrator.settings import Settings
from orchestrator.store.models import Campaign


async def get_by_name(session: AsyncSession, name: str) -> Campaign:
    """The campaign called `name`.

    Raises:
        NotFound: no such campaign.
    """
    campaign = (await session.exec(select(Campaign).where(Campaign.name == name))).first()
    if campaign is None:
        raise NotFound("campaign", name)
    return campaign


async def get_or_create(session: AsyncSession, name: str, settings: Settings) -> Campaign:
    """The campaign called `name`, created from the settings' defaults when missing."""
    try:
        return await get_by_name(session, name)
    except NotFound:
        campaign = Campaign(
            name=name,
            agent_id=settings.agent_id,
            phone_number_id=settings.phone_number_id,
            phone_number_kind=settings.phone_number_kind,
            config=CampaignPolicy(retry=settings.retry).model_dump(mode="json"),
        )
        session.add(campaign)
        await session.flush()
        return campaign
