"""Calling windows in the contact's local time: hours, days, dates, legal bounds, several zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from orchestrator.domain.windows.rules import (
    ALL_DAYS,
    DailyHours,
    LegalBounds,
    LegalLimits,
    LegalRule,
    WindowSpec,
    evaluate,
    never_opens,
    spec_of,
)

NY = "America/New_York"
LA = "America/Los_Angeles"
SYDNEY = "Australia/Sydney"
CAMPAIGN = DailyHours(time(9), time(20), frozenset(range(5)))  # Monday to Friday
LEGAL = LegalLimits(DailyHours(time(8), time(21)))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def test_open_inside_the_hours_with_the_closing_instant() -> None:
    # Tuesday 2025-03-04 10:00 in New York.
    verdict = evaluate(local(NY, 2025, 3, 4, 10), [NY], spec_of(CAMPAIGN, LEGAL))
    assert verdict.open
    assert verdict.closes_at == local(NY, 2025, 3, 4, 20)


def test_closed_before_the_hours_opens_the_same_morning() -> None:
    verdict = evaluate(local(NY, 2025, 3, 4, 7, 30), [NY], spec_of(CAMPAIGN, LEGAL))
    assert not verdict.open
    assert verdict.opens_at == local(NY, 2025, 3, 4, 9)


def test_friday_evening_opens_on_monday_morning() -> None:
    verdict = evaluate(local(NY, 2025, 3, 7, 20, 0), [NY], spec_of(CAMPAIGN, LEGAL))
    assert not verdict.open
    assert verdict.opens_at == local(NY, 2025, 3, 10, 9)


def test_the_end_instant_itself_is_closed() -> None:
    verdict = evaluate(local(NY, 2025, 3, 4, 20), [NY], spec_of(CAMPAIGN, LEGAL))
    assert not verdict.open
    assert verdict.opens_at == local(NY, 2025, 3, 5, 9)


def test_legal_bounds_apply_when_campaign_hours_are_not_enforced() -> None:
    spec = spec_of(None, LEGAL)
    # Sunday 22:00 is outside 08:00–21:00 even with no campaign hours.
    verdict = evaluate(local(NY, 2025, 3, 2, 22), [NY], spec)
    assert not verdict.open
    assert verdict.opens_at == local(NY, 2025, 3, 3, 8)
    assert evaluate(local(NY, 2025, 3, 2, 8, 30), [NY], spec).open


def test_campaign_hours_wider_than_the_law_are_narrowed_to_it() -> None:
    wide = DailyHours(time(6), time(23))
    verdict = evaluate(local(NY, 2025, 3, 4, 7), [NY], spec_of(wide, LEGAL))
    assert verdict.opens_at == local(NY, 2025, 3, 4, 8)
    assert evaluate(local(NY, 2025, 3, 4, 12), [NY], spec_of(wide, LEGAL)).closes_at == local(
        NY, 2025, 3, 4, 21
    )


def test_a_number_in_several_zones_is_open_only_where_all_are() -> None:
    spec = spec_of(DailyHours(time(9), time(20)), LEGAL)
    # 10:00 in New York is 07:00 in Los Angeles: closed for the pair.
    verdict = evaluate(local(NY, 2025, 3, 4, 10), [NY, LA], spec)
    assert not verdict.open
    assert verdict.opens_at == local(LA, 2025, 3, 4, 9)
    opened = evaluate(local(LA, 2025, 3, 4, 9, 30), [NY, LA], spec)
    assert opened.open
    assert opened.closes_at == local(NY, 2025, 3, 4, 20)


def test_zones_that_never_share_an_hour_never_open() -> None:
    # 09:00–12:00 in Sydney is 22:00–01:00 UTC, in Los Angeles 17:00–20:00 UTC.
    spec = spec_of(DailyHours(time(9), time(12)), LEGAL)
    assert evaluate(utc(2025, 3, 4, 12), [SYDNEY, LA], spec).never
    assert not evaluate(utc(2025, 3, 4, 12), [SYDNEY], spec).never


def test_start_date_in_the_future_opens_on_that_day() -> None:
    spec = spec_of(CAMPAIGN, LEGAL, start_date=date(2025, 6, 2))
    verdict = evaluate(local(NY, 2025, 3, 4, 10), [NY], spec)
    assert verdict.opens_at == local(NY, 2025, 6, 2, 9)


def test_end_date_past_never_opens_again() -> None:
    spec = spec_of(CAMPAIGN, LEGAL, end_date=date(2025, 3, 4))
    assert evaluate(local(NY, 2025, 3, 4, 19), [NY], spec).open
    assert evaluate(local(NY, 2025, 3, 4, 20, 30), [NY], spec).never


def test_dates_are_read_in_the_contacts_local_time() -> None:
    # 2025-03-05 02:00 UTC is still the 4th in New York: the end date has not passed there.
    spec = spec_of(DailyHours(time(8), time(21)), LEGAL, end_date=date(2025, 3, 4))
    verdict = evaluate(utc(2025, 3, 5, 1), [NY], spec)
    assert verdict.open


def test_daylight_saving_change_keeps_local_hours() -> None:
    # New York springs forward on 2025-03-09: 09:00 local is 14:00 UTC before, 13:00 after.
    spec = spec_of(DailyHours(time(9), time(20)), LEGAL)
    assert evaluate(utc(2025, 3, 8, 13), [NY], spec).opens_at == utc(2025, 3, 8, 14)
    assert evaluate(utc(2025, 3, 10, 12), [NY], spec).opens_at == utc(2025, 3, 10, 13)


def test_regional_rule_narrows_hours_and_caps_attempts() -> None:
    legal = LegalBounds(
        rules=[
            LegalRule(region="US-FL", end=time(20), max_attempts_per_24h=3),
            LegalRule(region="us", start=time(8, 30), max_attempts_per_24h=5),
            LegalRule(region="DE", end=time(18)),
        ]
    )
    florida = legal.for_regions(["US", "US-FL"])
    assert florida.hours == DailyHours(time(8, 30), time(20), ALL_DAYS)
    assert florida.max_attempts_per_24h == 3
    assert florida.rules == ("US-FL", "US")
    assert legal.for_regions(["GB"]).hours == DailyHours(time(8), time(21))
    assert legal.for_regions(["GB"]).max_attempts_per_24h is None


def test_regional_rule_days_remove_a_weekday() -> None:
    legal = LegalBounds(
        rules=[LegalRule(region="US-TX", days=["mon", "tue", "wed", "thu", "fri", "sat"])]
    )
    limits = legal.for_regions(["US", "US-TX"])
    assert limits.hours is not None
    # Sunday 10:00 in Texas: closed until Monday 08:00.
    chicago = "America/Chicago"
    verdict = evaluate(local(chicago, 2025, 3, 2, 10), [chicago], spec_of(None, limits))
    assert verdict.opens_at == local(chicago, 2025, 3, 3, 8)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"region": "Florida"}, "region"),
        ({"region": "US-FL", "start": "20:00", "end": "08:00"}, None),
        ({"region": "US-FL", "days": []}, "days"),
        ({"region": "US-FL", "max_attempts_per_24h": 0}, "max_attempts_per_24h"),
        ({"region": "US-FL", "curfew": True}, "curfew"),
    ],
)
def test_bad_legal_rules_are_refused(payload: dict[str, object], field: str | None) -> None:
    with pytest.raises(ValidationError) as caught:
        LegalRule.model_validate(payload)
    locs = [e["loc"] for e in caught.value.errors()]
    assert (field,) in locs if field else locs == [()]


def test_legal_default_bounds_must_open() -> None:
    with pytest.raises(ValidationError):
        LegalBounds(default_start=time(21), default_end=time(8))


def test_never_opens_checks_dates_against_days() -> None:
    weekdays = DailyHours(time(9), time(20), frozenset(range(5)))
    weekend = WindowSpec(weekdays, date(2025, 3, 8), date(2025, 3, 9))  # Saturday, Sunday
    assert never_opens(weekend)
    assert not never_opens(WindowSpec(weekdays, date(2025, 3, 8), date(2025, 3, 10)))
    assert never_opens(WindowSpec(None))


ZONES = [NY, LA, SYDNEY, "Europe/London", "Europe/Berlin", "Asia/Kolkata", "Pacific/Honolulu"]


@settings(max_examples=150, deadline=None)
@given(
    instant=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    ),
    zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=2, unique=True),
    start_hour=st.integers(min_value=6, max_value=14),
    length=st.integers(min_value=1, max_value=9),
    days=st.frozensets(st.integers(min_value=0, max_value=6), min_size=1),
)
def test_verdicts_agree_with_local_clocks(
    instant: datetime, zones: list[str], start_hour: int, length: int, days: frozenset[int]
) -> None:
    hours = DailyHours(time(start_hour), time(start_hour + length), days)
    spec = spec_of(hours, LEGAL)
    verdict = evaluate(instant, zones, spec)
    if spec.hours is None:  # the hours miss the legal bounds altogether
        assert verdict.never
        return

    def open_at(moment: datetime) -> bool:
        assert spec.hours is not None
        for zone in zones:
            here = moment.astimezone(ZoneInfo(zone))
            if here.weekday() not in spec.hours.days:
                return False
            if not spec.hours.start <= here.time().replace(tzinfo=None) < spec.hours.end:
                return False
        return True

    assert verdict.open == open_at(instant)
    if verdict.open:
        assert verdict.closes_at is not None and verdict.closes_at > instant
        assert open_at(verdict.closes_at - timedelta(seconds=1))
        assert not open_at(verdict.closes_at)
    elif verdict.opens_at is not None:
        assert verdict.opens_at > instant
        assert open_at(verdict.opens_at)
        assert not open_at(verdict.opens_at - timedelta(seconds=1))
        # Nothing opens in between (sampled every 15 minutes).
        probe = instant + timedelta(minutes=15)
        while probe < verdict.opens_at:
            assert not open_at(probe)
            probe += timedelta(minutes=15)


@pytest.mark.parametrize(
    "given",
    [
        {"default_start": "08:00:00Z"},
        {"default_end": "21:00+02:00"},
        {"rules": [{"region": "DE", "end": "18:00Z"}]},
    ],
)
def test_legal_hours_with_a_utc_offset_are_refused_naming_the_reason(
    given: dict[str, object],
) -> None:
    # Legal hours are wall-clock times of each contact's zone; an offset used to pass here and
    # then fail every window comparison with naive times (a TypeError at dial time).
    with pytest.raises(ValidationError, match="without a UTC offset"):
        LegalBounds.model_validate(given)
