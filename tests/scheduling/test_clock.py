"""The calendar: real time by default; pinned and sped up for demos and tests, reversibly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.domain.calendar import Calendar, calendar_from

START = datetime(2025, 3, 4, 7, 30, tzinfo=UTC)


class FakeTime:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_default_calendar_is_real_time() -> None:
    real = FakeTime(1_700_000_000.0)
    calendar = calendar_from(None, None, 1.0, real=real)
    assert calendar.is_real
    assert calendar.now() == datetime.fromtimestamp(1_700_000_000.0, UTC)
    assert calendar.describe() == "real time"


def test_pinned_calendar_starts_at_its_instant_and_runs_at_its_rate() -> None:
    real = FakeTime(1_000.0)
    calendar = calendar_from(START, None, 3600.0, real=real)
    assert calendar.now() == START
    real.now += 2.0  # two real seconds are two calendar hours
    assert calendar.now() == START + timedelta(hours=2)
    assert calendar.real_secs(3600) == 1.0


def test_calendar_and_real_instants_convert_both_ways() -> None:
    real = FakeTime(5_000.0)
    calendar = calendar_from(START, 4_000.0, 60.0, real=real)  # anchored a while ago
    assert calendar.now() == START + timedelta(minutes=1000)
    opening = START + timedelta(hours=30)
    real_ts = calendar.real_ts(opening)
    assert real_ts == pytest.approx(4_000.0 + 30 * 3600 / 60)
    assert calendar.at(real_ts) == opening
    assert calendar.to_real(opening).timestamp() == pytest.approx(real_ts)


def test_every_process_with_the_same_anchor_agrees() -> None:
    a = calendar_from(START, 4_000.0, 10.0, real=FakeTime(4_100.0))
    b = calendar_from(START, 4_000.0, 10.0, real=FakeTime(4_100.0))
    assert a.now() == b.now() == START + timedelta(seconds=1000)


def test_bad_calendars_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        Calendar(start=START, rate=0)
    with pytest.raises(ValueError, match="aware"):
        Calendar(start=datetime(2025, 3, 4))
