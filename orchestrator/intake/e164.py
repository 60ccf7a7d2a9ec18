"""E.164 normalisation for bulk intake: `domain.phone.normalize_e164`, with a shortcut.

`phonenumbers.parse` is general (letters, extensions, IDD prefixes, national prefixes...) and
costs more than everything else a CSV row needs. Most CRM exports already hold E.164 text
(`+` and digits). For such text, when the number cannot carry a national prefix or a leading
zero, parsing would build exactly the number below — the same country code (found the same
way), the digits after it as the national number, nothing stripped — so validating that number
directly gives the same answer at half the cost. Anything else, and every number found invalid
(for the exact error message), takes the general path. `tests/intake/test_e164.py` checks the
two agree on every example number of every region and on random digit strings.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata, PhoneNumber

from orchestrator.domain.phone import normalize_e164

_PLUS_DIGITS = re.compile(r"\+[1-9][0-9]{5,16}")
_MAX_COUNTRY_CODE_DIGITS = 3


@lru_cache(maxsize=512)
def _prefix_for_parsing(country_code: int) -> re.Pattern[str] | bool | None:
    """The national prefix pattern of the country's metadata; False when there is none."""
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None:
        return None  # unknown: take the general path
    pattern = metadata.national_prefix_for_parsing
    return re.compile(pattern) if pattern else False


def _split(digits: str) -> tuple[int, str]:
    """Country code and national number, as `phonenumbers` extracts them (shortest match)."""
    for size in range(1, min(len(digits), _MAX_COUNTRY_CODE_DIGITS) + 1):
        code = int(digits[:size])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            return code, digits[size:]
    return 0, digits


def fast_e164(raw: str, default_region: str | None = None) -> str:
    """`normalize_e164(raw, default_region)`, faster for text already in E.164.

    Raises:
        InvalidPhoneNumber: as `normalize_e164`.
    """
    text = raw.strip() if raw else ""
    if _PLUS_DIGITS.fullmatch(text):
        code, national = _split(text[1:])
        prefix = _prefix_for_parsing(code) if code else None
        if (
            prefix is not None
            and national[:1] != "0"
            and (prefix is False or not prefix.match(national))  # type: ignore[union-attr]
            and phonenumbers.is_valid_number(
                PhoneNumber(country_code=code, national_number=int(national))
            )
        ):
            return text
    return normalize_e164(raw, default_region)
