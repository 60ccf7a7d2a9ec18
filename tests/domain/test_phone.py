"""Phone numbers: E.164 normalisation and the zones a number may be in."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from orchestrator.domain.phone import is_e164, normalize_e164, time_zones_for
from orchestrator.errors import InvalidPhoneNumber


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+14155550123", None, "+14155550123"),
        ("+1 (415) 555-0123", None, "+14155550123"),
        ("  +44 20 7946 0018 ", None, "+442079460018"),
        ("(415) 555-0123", "US", "+14155550123"),
        ("020 7946 0018", "GB", "+442079460018"),
        ("+33 1 42 68 53 00", None, "+33142685300"),
    ],
)
def test_numbers_are_normalised_to_e164(raw: str, region: str | None, expected: str) -> None:
    assert normalize_e164(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("", None),
        ("   ", None),
        ("not a number", None),
        ("4155550123", None),  # national format without a region
        ("+1415555", None),  # too short
        ("+999123456789", None),  # no such country code
        ("+1 415 555 01234567", None),  # too long
    ],
)
def test_invalid_numbers_raise(raw: str, region: str | None) -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalize_e164(raw, region)


def test_invalid_phone_number_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        normalize_e164("nope")


def test_is_e164_only_for_canonical_text() -> None:
    assert is_e164("+14155550123")
    assert not is_e164("+1 415 555 0123")
    assert not is_e164("garbage")


def test_time_zones_of_a_us_number_are_its_area_zone() -> None:
    assert time_zones_for("+14155550123") == ["America/Los_Angeles"]
    assert time_zones_for("+12125550123") == ["America/New_York"]


def test_a_multi_zone_country_gives_several_sorted_zones() -> None:
    # An Australian mobile number carries no area code, so it may be in any Australian zone.
    zones = time_zones_for("+61412345678")
    assert len(zones) > 1
    assert zones == sorted(zones)
    assert "Australia/Sydney" in zones
    assert "Australia/Perth" in zones
    assert "Etc/Unknown" not in zones
    for zone in zones:
        ZoneInfo(zone)  # every one is a real IANA zone


@pytest.mark.parametrize(
    ("raw", "region", "says"),
    [
        ("4155550123", None, "E.164"),
        ("4155550123", None, "ORCH_DEFAULT_REGION"),
        ("not a number", None, "not a phone number"),
        ("+999123456789", None, "country code"),
        ("+1", None, "too short"),
        ("+1 415 555 0123 4567 8901 2345", None, "too long"),
        ("x" * 10_000, None, "too long"),
    ],
)
def test_refusals_are_our_own_words_never_the_library_s(
    raw: str, region: str | None, says: str
) -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize_e164(raw, region)
    message = str(caught.value)
    assert says in message
    # phonenumbers' own texts: "(0) Missing or invalid default region.", "(1) The string..."
    assert "Missing or invalid default region" not in message
    assert not any(f"({n})" in message for n in range(5))
    assert len(message) < 200  # the input is quoted, cut short
