"""One contact's calling window: the pure calculator fed with the contact's location and rules.

Legal rules are matched on the location's regions; hours are read in each of its zones (the most
restrictive reading wins when a number spans several).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator.domain.campaign_policy import CampaignPolicy
from orchestrator.domain.windows.location import Location
from orchestrator.domain.windows.rules import (
    LegalBounds,
    LegalLimits,
    Verdict,
    WindowSpec,
    evaluate,
)


@dataclass(frozen=True)
class ContactWindow:
    """The verdict at one instant, with what it was computed from (for reasons and logs)."""

    verdict: Verdict
    location: Location
    spec: WindowSpec
    legal: LegalLimits

    def never_reason(self) -> str:
        """Why the window never opens, for the attempt's error."""
        zones = ", ".join(self.location.zones[:4]) + ("…" if len(self.location.zones) > 4 else "")
        if len(self.location.zones) > 1:
            return (
                f"calling window never opens: the number's time zones ({zones}) never share an "
                f"open hour of {self.spec.describe()}; give the contact an explicit timezone"
            )
        return f"calling window never opens again ({self.spec.describe()} in {zones})"


def window_at(
    policy: CampaignPolicy, legal: LegalBounds, location: Location, now: datetime
) -> ContactWindow:
    """The contact's window at calendar instant `now`."""
    limits = legal.for_regions(location.regions)
    spec = policy.window_spec(limits.hours)
    return ContactWindow(evaluate(now, location.zones, spec), location, spec, limits)


class WindowBook:
    """Windows for one instant, memoised by (campaign, location): contacts share zones heavily."""

    def __init__(self, legal: LegalBounds, now: datetime) -> None:
        self._legal = legal
        self.now = now
        self._seen: dict[tuple[int, Location], ContactWindow] = {}

    def get(self, campaign_id: int, policy: CampaignPolicy, location: Location) -> ContactWindow:
        """The window of a contact at `location` in campaign `campaign_id`."""
        key = (campaign_id, location)
        found = self._seen.get(key)
        if found is None:
            found = window_at(policy, self._legal, location, self.now)
            self._seen[key] = found
        return found
