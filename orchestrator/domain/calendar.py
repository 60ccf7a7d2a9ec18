"""The calendar that calling windows are read against: real time, or a pinned and faster one.

Two times exist. *Real* time (`time.time()`) is what everything stores and compares: database
timestamps, lease deadlines in Redis, the provider's start times. The *calendar* is what calling
windows, legal hours and campaign dates are evaluated against. Normally both are the same instant;
a demo, a benchmark or a test can pin the calendar to a chosen instant (`ORCH_CLOCK_START`, read at
the real moment `ORCH_CLOCK_ANCHOR`) and let it run faster than real time (`ORCH_CLOCK_RATE`), so
the same hour of the same weekday comes up whenever it runs. The mapping between the two is linear,
so "the window opens at calendar instant T" converts to a real `due_at` and back exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Calendar:
    """Calendar time as a linear function of real time.

    Attributes:
        start: the calendar instant at the real moment `anchor`; None means "the real instant".
        anchor: real Unix seconds at which the calendar reads `start`.
        rate: calendar seconds per real second (1.0 = real speed).
        real: the real clock (injectable in tests).
    """

    start: datetime | None = None
    anchor: float = 0.0
    rate: float = 1.0
    real: Callable[[], float] = field(default=time.time)

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("the calendar's rate must be positive")
        if self.start is None and self.rate != 1.0:
            raise ValueError("a faster calendar needs a start instant")
        if self.start is not None and self.start.tzinfo is None:
            raise ValueError("the calendar's start must be an aware datetime")

    @property
    def is_real(self) -> bool:
        """True when the calendar is plain real time."""
        return self.start is None and self.rate == 1.0

    def at(self, real_ts: float) -> datetime:
        """The calendar instant at real Unix time `real_ts`."""
        if self.start is None:
            return datetime.fromtimestamp(real_ts, UTC)
        return self.start.astimezone(UTC) + timedelta(seconds=(real_ts - self.anchor) * self.rate)

    def now(self) -> datetime:
        """The calendar instant now."""
        return self.at(self.real())

    def real_ts(self, instant: datetime) -> float:
        """Real Unix time at which the calendar reads `instant`."""
        if self.start is None:
            return instant.timestamp()
        return self.anchor + (instant - self.start).total_seconds() / self.rate

    def to_real(self, instant: datetime) -> datetime:
        """The real (stored) datetime at which the calendar reads `instant`."""
        return datetime.fromtimestamp(self.real_ts(instant), UTC)

    def real_secs(self, calendar_secs: float) -> float:
        """Real seconds that `calendar_secs` of calendar time take."""
        return calendar_secs / self.rate

    def describe(self) -> str:
        """One line for logs and the demo: what the calendar is doing."""
        if self.is_real:
            return "real time"
        start = self.at(self.real()).isoformat(timespec="seconds")
        speed = "real speed" if self.rate == 1.0 else f"{self.rate:g}× real speed"
        return f"calendar reads {start} now and runs at {speed}"


def calendar_from(
    start: datetime | None,
    anchor: float | None,
    rate: float,
    *,
    real: Callable[[], float] = time.time,
) -> Calendar:
    """The calendar the settings describe.

    A start without an anchor is read from now on; a rate without a start speeds up from now.
    """
    if start is None and rate == 1.0:
        return Calendar(real=real)
    moment = anchor if anchor is not None else real()
    origin = start if start is not None else datetime.fromtimestamp(moment, UTC)
    return Calendar(start=origin, anchor=moment, rate=rate, real=real)
