"""Whether a campaign's call may take a burst slot now, per its burst policy.

`off` never; `on` always (up to the burst ceiling); `deadline` only when the backlog cannot
finish inside today's calling window at the plan's limit; `budget` while today's burst calls or
extra credits stay under the campaign's cap.
"""

from __future__ import annotations

from orchestrator.domain.campaign_policy import CampaignPolicy
from orchestrator.runtime import Deps
from orchestrator.store.models import Campaign


async def may_burst(deps: Deps, campaign: Campaign, policy: CampaignPolicy) -> bool:
    """True when this campaign's next call may go above the plan's limit."""
    # `deadline` and `budget` need the backlog and today's spend: not decided here yet.
    return policy.burst.mode == "on"
