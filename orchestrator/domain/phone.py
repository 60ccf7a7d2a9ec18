"""Phone numbers: E.164 normalisation and the time zones a number may be in."""

from __future__ import annotations

import phonenumbers
from phonenumbers import timezone as pn_timezone


class InvalidPhoneNumber(ValueError):
    """The text is not a valid, dialable phone number."""


def normalize_e164(raw: str, default_region: str | None = None) -> str:
    """Parse `raw` and return it as E.164 (`+14155550123`).

    Raises:
        InvalidPhoneNumber: empty, unparseable, or not a valid number.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("empty phone number")
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"cannot parse {text!r}: {exc}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"{text!r} is not a valid phone number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def is_e164(text: str) -> bool:
    """True when `text` is already a valid number written in E.164."""
    try:
        return normalize_e164(text) == text
    except InvalidPhoneNumber:
        return False


def time_zones_for(e164: str) -> list[str]:
    """IANA zones the number may be in (several for a country or area spanning zones)."""
    parsed = phonenumbers.parse(e164, None)
    zones = [z for z in pn_timezone.time_zones_for_number(parsed) if z != "Etc/Unknown"]
    return sorted(zones)
