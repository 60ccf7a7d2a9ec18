"""Calling windows: when a contact may be called, read in the contact's local time. Pure, no I/O.

A window is the intersection of daily hours — the campaign's days and hours (unless the campaign
does not enforce them) and, always, the legal bounds of the contact's region (08:00–21:00 local by
default, stricter per region) — within the campaign's start and end dates, each date also read in
the contact's local time. A number that may be in several zones is open only when it is open in
every one of them (the most restrictive reading). `evaluate` answers, for one instant: open now
(and until when), or closed (and when it next opens), or never.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

ALL_DAYS: frozenset[int] = frozenset(range(7))
DEFAULT_LEGAL_START = time(8, 0)
DEFAULT_LEGAL_END = time(21, 0)
#: How far ahead openings are searched; two weeks cover every weekly pattern.
HORIZON_DAYS = 15

_DAY_NAMES = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_FULL_DAY_NAMES = {
    name: i
    for i, name in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
}
_REGION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")

#: How days are written, for the schema and for refusals.
DAYS_DOC = (
    "0 = Monday … 6 = Sunday (Python's weekday numbering, not ISO's 1–7), or the day's name in "
    "any case: mon, tue, wed, thu, fri, sat, sun, or monday … sunday"
)

Interval = tuple[datetime, datetime]


def _day(value: Any) -> int:
    """One day of the week: its number (0 = Monday) or its name; anything else is refused.

    Refused rather than guessed: `true` is not day 1, "Monkey" is not Monday, "1" may mean
    Monday (ISO) or Tuesday.
    """
    if isinstance(value, str):
        number = _DAY_NAMES.get(value.strip().lower(), _FULL_DAY_NAMES.get(value.strip().lower()))
        if number is not None:
            return number
        shown = repr(value[:20])
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    else:
        shown = "a boolean (true/false)" if isinstance(value, bool) else repr(value)[:20]
    raise PydanticCustomError(
        "day", "{shown} is not a day: days are {days}", {"shown": shown, "days": DAYS_DOC}
    )


#: A day of the week, as a number 0-6 (Monday = 0) or a name; stored and answered as the number.
Day = Annotated[
    int,
    BeforeValidator(_day),
    # One schema for requests and answers (answers hold numbers only).
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 6},
                {"type": "string", "description": "mon … sun or monday … sunday, any case"},
            ]
        }
    ),
]


def check_days(value: list[int]) -> list[int]:
    """At least one day; each once, in order."""
    if not value:
        raise ValueError("at least one day is needed, or the window never opens")
    return sorted(set(value))


def _hhmm(t: time) -> str:
    return t.strftime("%H:%M")


@dataclass(frozen=True)
class DailyHours:
    """Open from `start` to `end` local time on `days` (0 = Monday)."""

    start: time
    end: time
    days: frozenset[int] = ALL_DAYS

    def __and__(self, other: DailyHours) -> DailyHours | None:
        """Both at once, or None when they never overlap."""
        start, end = max(self.start, other.start), min(self.end, other.end)
        days = self.days & other.days
        if end <= start or not days:
            return None
        return DailyHours(start, end, days)

    def describe(self) -> str:
        """`08:00–21:00` with the days when not every day."""
        hours = f"{_hhmm(self.start)}–{_hhmm(self.end)}"
        if self.days == ALL_DAYS:
            return hours
        names = [n for n, i in _DAY_NAMES.items() if i in self.days]
        return f"{hours} {','.join(names)}"


#: A time of day as answered (`09:00:00`, `09:00:00.500000`) and as usually written (`09:00`).
LOCAL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?$"


def _without_offset(value: time) -> time:
    """Refuse a time with a UTC offset (`09:00:00Z`; a number of seconds parses as UTC too).

    Calling hours are wall-clock times read in each contact's own zone, so an offset means
    nothing there; compared with the naive legal hours it would also raise a TypeError.
    """
    if value.tzinfo is not None:
        raise ValueError(
            "must be a local time of day without a UTC offset (HH:MM or HH:MM:SS): calling "
            "hours are read in each contact's own time zone"
        )
    return value


#: A wall-clock time without an offset. Documented by a pattern, not `format: time`: that is
#: RFC 3339 full-time, which needs an offset, so the answers would not match it.
LocalTime = Annotated[
    time,
    AfterValidator(_without_offset),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": LOCAL_TIME_PATTERN,
            "description": "Local time of day, HH:MM or HH:MM:SS, without a UTC offset",
        }
    ),
]


class LegalRule(BaseModel):
    """Stricter bounds for one region: a country (`DE`) or a subdivision (`US-FL`)."""

    model_config = ConfigDict(extra="forbid")

    region: str
    start: LocalTime = DEFAULT_LEGAL_START
    end: LocalTime = DEFAULT_LEGAL_END
    days: list[Day] | None = Field(default=None, description=f"Days the rule allows: {DAYS_DOC}")
    max_attempts_per_24h: int | None = Field(default=None, ge=1)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        value = value.strip().upper()
        if not _REGION.match(value):
            raise ValueError("a region is a country code (DE) or country-subdivision (US-FL)")
        return value

    @field_validator("days")
    @classmethod
    def _valid_days(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else check_days(value)

    @model_validator(mode="after")
    def _opens(self) -> LegalRule:
        if self.end <= self.start:
            raise ValueError(f"{self.region}: end must be after start")
        return self

    @property
    def hours(self) -> DailyHours:
        """The rule's daily hours."""
        return DailyHours(self.start, self.end, frozenset(self.days) if self.days else ALL_DAYS)


@dataclass(frozen=True)
class LegalLimits:
    """What the law allows for one contact: hours (None: never) and attempts per 24 h."""

    hours: DailyHours | None
    max_attempts_per_24h: int | None = None
    rules: tuple[str, ...] = ()


class LegalBounds(BaseModel):
    """Legal calling hours everywhere, plus stricter rules per region (`[legal]` in settings)."""

    model_config = ConfigDict(extra="forbid")

    default_start: LocalTime = DEFAULT_LEGAL_START
    default_end: LocalTime = DEFAULT_LEGAL_END
    rules: list[LegalRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _opens(self) -> LegalBounds:
        if self.default_end <= self.default_start:
            raise ValueError("legal default_end must be after default_start")
        return self

    @property
    def default_hours(self) -> DailyHours:
        """The bounds that apply everywhere."""
        return DailyHours(self.default_start, self.default_end)

    def for_regions(self, regions: Iterable[str]) -> LegalLimits:
        """The most restrictive reading of every rule matching one of `regions`."""
        wanted = {r.upper() for r in regions}
        hours: DailyHours | None = self.default_hours
        cap: int | None = None
        matched: list[str] = []
        for rule in self.rules:
            if rule.region not in wanted:
                continue
            matched.append(rule.region)
            hours = hours & rule.hours if hours is not None else None
            if rule.max_attempts_per_24h is not None:
                cap = min(cap or rule.max_attempts_per_24h, rule.max_attempts_per_24h)
        return LegalLimits(hours, cap, tuple(matched))


@dataclass(frozen=True)
class WindowSpec:
    """Everything that decides a window except the contact's zones."""

    hours: DailyHours | None
    start_date: date | None = None
    end_date: date | None = None

    def describe(self) -> str:
        """Human-readable, for reasons and logs."""
        text = self.hours.describe() if self.hours else "no common hours"
        if self.start_date or self.end_date:
            text += f" from {self.start_date or '…'} to {self.end_date or '…'}"
        return text


@dataclass(frozen=True)
class Verdict:
    """Open now (closing at `closes_at`), or closed (opening at `opens_at`, None: never)."""

    open: bool
    opens_at: datetime | None = None
    closes_at: datetime | None = None

    @property
    def never(self) -> bool:
        """True when the window will not open again."""
        return not self.open and self.opens_at is None


def spec_of(
    campaign_hours: DailyHours | None,
    legal: LegalLimits,
    *,
    start_date: date | None = None,
    end_date: date | None = None,
) -> WindowSpec:
    """Campaign hours (None: not enforced) intersected with the legal hours."""
    hours = legal.hours
    if hours is not None and campaign_hours is not None:
        hours = hours & campaign_hours
    return WindowSpec(hours, start_date, end_date)


def _zone_intervals(
    zone: ZoneInfo, spec: WindowSpec, since: datetime, until: datetime
) -> list[Interval]:
    assert spec.hours is not None
    hours = spec.hours
    day = since.astimezone(zone).date() - timedelta(days=1)
    last = until.astimezone(zone).date()
    out: list[Interval] = []
    while day <= last:
        if (
            day.weekday() in hours.days
            and (spec.start_date is None or day >= spec.start_date)
            and (spec.end_date is None or day <= spec.end_date)
        ):
            begin = datetime.combine(day, hours.start, tzinfo=zone).astimezone(UTC)
            end = datetime.combine(day, hours.end, tzinfo=zone).astimezone(UTC)
            if end > begin and end > since and begin < until:
                out.append((begin, end))
        day += timedelta(days=1)
    return out


def _intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        begin, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if begin < end:
            out.append((begin, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def open_intervals(
    zones: Sequence[str], spec: WindowSpec, since: datetime, until: datetime
) -> list[Interval]:
    """UTC intervals between `since` and `until` when the window is open in every zone."""
    if spec.hours is None or not zones:
        return []
    result: list[Interval] | None = None
    for name in sorted(set(zones)):
        intervals = _zone_intervals(ZoneInfo(name), spec, since, until)
        result = intervals if result is None else _intersect(result, intervals)
        if not result:
            return []
    return result or []


def evaluate(now: datetime, zones: Sequence[str], spec: WindowSpec) -> Verdict:
    """Is the window open at `now` (aware)? If not, when does it next open?"""
    now = now.astimezone(UTC)
    since = now
    if spec.start_date is not None:
        # Skip straight to the start date (a day early covers every offset from UTC).
        since = max(now, datetime.combine(spec.start_date, time(0), tzinfo=UTC) - timedelta(days=1))
    until = since + timedelta(days=HORIZON_DAYS)
    for begin, end in open_intervals(zones, spec, since, until):
        if begin <= now < end:
            return Verdict(open=True, closes_at=end)
        if begin > now:
            return Verdict(open=False, opens_at=begin)
    return Verdict(open=False)


def never_opens(spec: WindowSpec) -> bool:
    """True when no date in the campaign's range has an open hour (checked in UTC; local dates
    and hours are the same in every zone, so this is zone-independent)."""
    if spec.hours is None:
        return True
    first = spec.start_date or date(2024, 1, 1)
    probe = datetime.combine(first, time(0), tzinfo=UTC)
    return evaluate(probe, ["UTC"], spec).never
