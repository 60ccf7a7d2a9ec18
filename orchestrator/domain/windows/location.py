"""Where a contact is: the time zones to read its local time in, and its legal regions.

A contact's zone is its own (explicit), else its number's (all of them when it spans several),
else the campaign's default zone, else UTC (`locate`). A number's zones and regions (`US`,
`US-FL`) come from `locate_number`.

Zones come from `phonenumbers`; a number of a country or area code spanning several zones maps to
all of them (the window calculator then takes the most restrictive reading). Regions are the
country code plus, for the US and Canada, the state or province of the area code, read from
`phonenumbers`' geocoder ("Florida", "San Francisco, CA").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import geocoder
from phonenumbers import timezone as pn_timezone

# "State=postal code" pairs, by country; parsed once below.
_NAMES = {
    "US": (
        "Alabama=AL; Alaska=AK; Arizona=AZ; Arkansas=AR; California=CA; Colorado=CO; "
        "Connecticut=CT; Delaware=DE; District of Columbia=DC; Washington D.C.=DC; Florida=FL; "
        "Georgia=GA; Hawaii=HI; Idaho=ID; Illinois=IL; Indiana=IN; Iowa=IA; Kansas=KS; "
        "Kentucky=KY; Louisiana=LA; Maine=ME; Maryland=MD; Massachusetts=MA; Michigan=MI; "
        "Minnesota=MN; Mississippi=MS; Missouri=MO; Montana=MT; Nebraska=NE; Nevada=NV; "
        "New Hampshire=NH; New Jersey=NJ; New Mexico=NM; New York=NY; North Carolina=NC; "
        "North Dakota=ND; Ohio=OH; Oklahoma=OK; Oregon=OR; Pennsylvania=PA; Rhode Island=RI; "
        "South Carolina=SC; South Dakota=SD; Tennessee=TN; Texas=TX; Utah=UT; Vermont=VT; "
        "Virginia=VA; Washington=WA; West Virginia=WV; Wisconsin=WI; Wyoming=WY; Puerto Rico=PR"
    ),
    "CA": (
        "Alberta=AB; British Columbia=BC; Manitoba=MB; New Brunswick=NB; "
        "Newfoundland and Labrador=NL; Nova Scotia=NS; Ontario=ON; Prince Edward Island=PE; "
        "Quebec=QC; Québec=QC; Saskatchewan=SK; Northwest Territories=NT; Nunavut=NU; Yukon=YT"
    ),
}
_SUBDIVISIONS: dict[str, dict[str, str]] = {
    country: dict(pair.strip().split("=") for pair in text.split(";") if pair.strip())
    for country, text in _NAMES.items()
}


def _subdivision(country: str, description: str) -> str | None:
    names = _SUBDIVISIONS.get(country)
    if not names or not description:
        return None
    if description in names:
        return names[description]
    # "San Francisco, CA": the suffix is the state's postal code.
    _, _, suffix = description.rpartition(", ")
    if suffix and suffix in names.values():
        return suffix
    return None


@lru_cache(maxsize=65536)
def locate_number(e164: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(time zones, regions) of a number; both empty when the number cannot be placed."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return (), ()
    zones = tuple(
        sorted(z for z in pn_timezone.time_zones_for_number(parsed) if z != "Etc/Unknown")
    )
    country = phonenumbers.region_code_for_number(parsed) or ""
    regions: list[str] = [country] if country and country != "ZZ" else []
    sub = _subdivision(country, geocoder.description_for_number(parsed, "en"))
    if sub is not None:
        regions.append(f"{country}-{sub}")
    return zones, tuple(regions)


@dataclass(frozen=True)
class Location:
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


def locate(phone: str, contact_zone: str | None, default_zone: str | None) -> Location:
    """The contact's zones (explicit, else from the number, else the campaign's, else UTC)."""
    number_zones, regions = locate_number(phone)
    if _valid_zone(contact_zone):
        assert contact_zone is not None
        return Location((contact_zone,), regions)
    if number_zones:
        return Location(number_zones, regions)
    if _valid_zone(default_zone):
        assert default_zone is not None
        return Location((default_zone,), regions)
    return Location(("UTC",), regions)
