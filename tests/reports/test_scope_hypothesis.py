"""A report's range from any text: a scope or a `ValidationFailed` naming the field, nothing else.

Covers the far ends of datetime's range with every UTC offset (where shifting to UTC overflows),
dates that do not exist, and arbitrary text (invalid Unicode included).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import example, given
from hypothesis import strategies as st

from orchestrator.errors import ValidationFailed
from orchestrator.reports.scope import EARLIEST, LATEST, make_scope

offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda m: timezone(timedelta(minutes=m))
)
moments = st.datetimes(timezones=st.none() | offsets)
texts = st.text() | moments.map(datetime.isoformat) | st.dates().map(date.isoformat)


@given(since=st.none() | texts, until=st.none() | texts)
@example(since=None, until="9999-12-31")
@example(since="0001-01-01T00:00:00+14:00", until=None)
@example(since="2026-02-30", until="\ud83d")
def test_any_text_is_a_scope_or_a_named_refusal(since: str | None, until: str | None) -> None:
    try:
        scope = make_scope(None, since, until)
    except ValidationFailed as exc:
        assert {field for field, _ in exc.problems} <= {"since", "until"}
        return
    for bound in (scope.since, scope.until):
        assert bound is None or (bound.tzinfo is UTC and EARLIEST <= bound <= LATEST)
    if scope.since is not None and scope.until is not None:
        assert scope.since < scope.until


@given(moment=moments.filter(lambda m: m.tzinfo is not None))
def test_an_aware_moment_is_kept_or_clamped_to_the_end_it_points_at(moment: datetime) -> None:
    scope = make_scope(None, moment.isoformat(), None)
    assert scope.since is not None
    try:
        expected = moment.astimezone(UTC)
    except OverflowError:
        expected = EARLIEST if moment.year == 1 else LATEST
    assert scope.since == expected


@given(day=st.dates())
def test_until_a_day_includes_the_whole_day(day: date) -> None:
    scope = make_scope(None, day.isoformat(), day.isoformat())
    assert scope.since == datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert scope.until is not None
    expected = scope.since + timedelta(days=1) if day < date.max else LATEST
    assert scope.until == expected
    compact = make_scope(None, None, day.strftime("%Y%m%d") if day.year >= 1000 else None)
    assert compact.until in (None, expected)
