"""Phone numbers: E.164 normalisation and the time zones a number may be in."""

from __future__ import annotations

import phonenumbers
from phonenumbers import timezone as pn_timezone

from orchestrator.errors import InvalidPhoneNumber

#: How much of a refused number is quoted back.
_SHOWN = 40


def _shown(text: str) -> str:
    """`text` quoted, cut short: a refusal should not echo a megabyte back."""
    return repr(text) if len(text) <= _SHOWN else repr(text[:_SHOWN]) + "…"


def _why(exc: phonenumbers.NumberParseException, text: str, region: str | None) -> str:
    """Why `text` is not a number, in our words (the library's are '(0) Missing or invalid
    default region.')."""
    kind = phonenumbers.NumberParseException
    if exc.error_type == kind.INVALID_COUNTRY_CODE:
        if not text.startswith("+") and region is None:
            return (
                f"{_shown(text)} has no country code: write it in E.164 (+14155550123), or set "
                "ORCH_DEFAULT_REGION to accept national numbers"
            )
        return f"{_shown(text)} has no known country code"
    if exc.error_type in (kind.TOO_SHORT_NSN, kind.TOO_SHORT_AFTER_IDD):
        return f"{_shown(text)} is too short to be a phone number"
    if exc.error_type == kind.TOO_LONG:
        return f"{_shown(text)} is too long to be a phone number"
    digits = sum(c.isdigit() for c in text)
    if 0 < digits < 3:
        return f"{_shown(text)} is too short to be a phone number"
    return f"{_shown(text)} is not a phone number"


def normalize_e164(raw: str, default_region: str | None = None) -> str:
    """Parse `raw` and return it as E.164 (`+14155550123`).

    Raises:
        InvalidPhoneNumber: empty, unparseable, or not a valid number (said in our words).
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("empty phone number")
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(_why(exc, text, default_region)) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"{_shown(text)} is not a valid phone number")
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
