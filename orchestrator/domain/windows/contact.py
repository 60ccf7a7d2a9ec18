"""One contact's calling window: the pure calculator fed with the contact's place and rules.

The zone is the contact's own (explicit), else the number's (all of them when it spans several),
else the campaign's default zone, else UTC. Legal rules are matched on the number's regions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestrator.domain.campaign_policy import CampaignPolicy
from orchestrator.domain.windows.location import place_of_number
from orchestrator.domain.windows.rules import (
    LegalBounds,
    LegalLimits,
    Verdict,
    WindowSpec,
    evaluate,
)


@dataclass(frozen=True)
class Place:
    """Where a contact is: the zones to read local time in, and the legal regions."""

    zones: tuple[str, ...]
    regions: tuple[str, ...]


def _valid_zone(name: str | None) -> bool:
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def place_of(phone: str, contact_zone: str | None, default_zone: str | None) -> Place:
    """The contact's zones (explicit, else from the number, else the campaign's, else UTC)."""
    number_zones, regions = place_of_number(phone)
    if _valid_zone(contact_zone):
        assert contact_zone is not None
        return Place((contact_zone,), regions)
    if number_zones:
        return Place(number_zones, regions)
    if _valid_zone(default_zone):
        assert default_zone is not None
        return Place((default_zone,), regions)
    return Place(("UTC",), regions)


@dataclass(frozen=True)
class ContactWindow:
    """The verdict at one instant, with what it was computed from (for reasons and logs)."""

    verdict: Verdict
    place: Place
    spec: WindowSpec
    legal: LegalLimits

    def never_reason(self) -> str:
        """Why the window never opens, for the attempt's error."""
        zones = ", ".join(self.place.zones[:4]) + ("…" if len(self.place.zones) > 4 else "")
        if len(self.place.zones) > 1:
            return (
                f"calling window never opens: the number's time zones ({zones}) never share an "
                f"open hour of {self.spec.describe()}; give the contact an explicit timezone"
            )
        return f"calling window never opens again ({self.spec.describe()} in {zones})"


def window_at(
    policy: CampaignPolicy, legal: LegalBounds, place: Place, now: datetime
) -> ContactWindow:
    """The contact's window at calendar instant `now`."""
    limits = legal.for_regions(place.regions)
    spec = policy.window_spec(limits.hours)
    return ContactWindow(evaluate(now, place.zones, spec), place, spec, limits)


class WindowBook:
    """Windows for one instant, memoised by (campaign, place): contacts share zones heavily."""

    def __init__(self, legal: LegalBounds, now: datetime) -> None:
        self._legal = legal
        self.now = now
        self._seen: dict[tuple[int, Place], ContactWindow] = {}

    def get(self, campaign_id: int, policy: CampaignPolicy, place: Place) -> ContactWindow:
        """The window of a contact at `place` in campaign `campaign_id`."""
        key = (campaign_id, place)
        found = self._seen.get(key)
        if found is None:
            found = window_at(policy, self._legal, place, self.now)
            self._seen[key] = found
        return found
