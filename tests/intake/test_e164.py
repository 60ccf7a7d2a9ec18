"""The E.164 shortcut agrees with the general parser, number for number."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.domain.phone import normalize_e164
from orchestrator.errors import InvalidPhoneNumber
from orchestrator.intake.e164 import fast_e164


def outcome(fn: object, text: str) -> tuple[str, str]:
    try:
        return ("ok", fn(text))  # type: ignore[operator]
    except InvalidPhoneNumber as exc:
        return ("invalid", str(exc))


def example_numbers() -> list[str]:
    """Every example number of every region and type, as E.164 text."""
    found: set[str] = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                found.add(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            found.add(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    return sorted(found)


EXAMPLES = example_numbers()


def test_there_are_many_examples() -> None:
    assert len(EXAMPLES) > 1000


def test_every_example_number_gets_the_same_answer() -> None:
    differ = [n for n in EXAMPLES if outcome(fast_e164, n) != outcome(normalize_e164, n)]
    assert differ == []


def test_with_a_national_prefix_or_zero_inserted_the_answers_agree() -> None:
    texts = []
    for number in EXAMPLES:
        code = str(phonenumbers.parse(number).country_code)
        rest = number[1 + len(code) :]
        texts += [f"+{code}{inserted}{rest}" for inserted in ("0", "1", "8", "9", "06", "15")]
    differ = [t for t in texts if outcome(fast_e164, t) != outcome(normalize_e164, t)]
    assert differ == []


country_codes = st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE))


@settings(max_examples=3000, deadline=None)
@given(country_codes, st.text(alphabet="0123456789", min_size=0, max_size=14))
def test_random_digits_get_the_same_answer(code: int, digits: str) -> None:
    text = f"+{code}{digits}"
    assert outcome(fast_e164, text) == outcome(normalize_e164, text)


@given(st.text(max_size=20))
def test_any_text_gets_the_same_answer(text: str) -> None:
    assert outcome(fast_e164, text) == outcome(normalize_e164, text)


def test_national_formats_still_need_the_general_path() -> None:
    assert fast_e164("(415) 555-0123", "US") == "+14155550123"
    assert fast_e164(" +1 415 555 0123 ") == "+14155550123"
    assert fast_e164("+14155550123") == "+14155550123"
    with pytest.raises(InvalidPhoneNumber):
        fast_e164("+1415555")
