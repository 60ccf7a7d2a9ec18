"""The last check before a dial: may this attempt be called right now?

A campaign that is canceled or past its end date cancels the attempt; a number on the do-not-call
list cancels it; a paused campaign or a closed calling window hands it back to the dispatcher
with the time it may run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator.domain.campaign_policy import CampaignPolicy
from orchestrator.runtime import Deps
from orchestrator.store.models import Attempt, Campaign, Contact, DoNotCall


@dataclass(frozen=True)
class Gate:
    """Go, cancel (with the reason), or wait until `not_before`."""

    ok: bool
    cancel_reason: str | None = None
    not_before: datetime | None = None


GO = Gate(ok=True)


async def admit(
    deps: Deps,
    attempt: Attempt,
    contact: Contact,
    campaign: Campaign,
    policy: CampaignPolicy,
    now: datetime,
) -> Gate:
    """Decide whether `attempt` may be dialled at `now`."""
    if campaign.status == "canceled":
        return Gate(ok=False, cancel_reason="campaign canceled")
    if policy.end_date is not None and now.date() > policy.end_date:
        return Gate(ok=False, cancel_reason="campaign ended")
    async with deps.db.session() as s:
        if await s.get(DoNotCall, attempt.phone_number) is not None:
            return Gate(ok=False, cancel_reason="number on the do-not-call list")
    if campaign.status == "paused":
        return Gate(ok=False, not_before=now)
    return GO
