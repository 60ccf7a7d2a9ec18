"""Slot utilization over time: calls in flight at regular instants against the account limit.

Calls in flight at instant t = calls started at or before t − calls ended at or before t. Both
counts come from index range counts (`ix_attempt_campaign_started` / `_ended`, or the
campaign-less ones), one per interval between instants, all in a single UNION ALL statement:
the database walks each index once and never sorts. Python adds up at most ~120 numbers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, select, union_all
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.reports.filters import DIALED, LIVE, Filters
from orchestrator.reports.model import Report, Utilization
from orchestrator.store.models import Attempt

#: Widths of the sampling interval, seconds; the smallest giving at most MAX_POINTS is used.
WIDTHS = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
    7 * 86400,
)
MAX_POINTS = 120


def pick_width(span_secs: float) -> int:
    """The interval between samples for a window of `span_secs`."""
    for width in WIDTHS:
        if span_secs / width <= MAX_POINTS:
            return width
    return WIDTHS[-1]


def _counts(column: Any, filters: Filters, instants: list[datetime]) -> Any:
    """Per instant i: rows with `column` in (instant i-1, instant i]; i = 0 counts all before."""
    base = [*filters.same_campaign(), col(Attempt.state).in_(DIALED)]
    parts = []
    previous: datetime | None = None
    for i, instant in enumerate(instants):
        where = [*base, column <= instant]
        if previous is not None:
            where.append(column > previous)
        parts.append(select(literal(i).label("i"), func.count().label("n")).where(*where))
        previous = instant
    return union_all(*parts)


async def _edge(s: AsyncSession, column: Any, where: list[Any], *, last: bool) -> datetime | None:
    query: Any = select(column).where(*where).order_by(column.desc() if last else column).limit(1)
    row = (await s.exec(query)).first()
    return row[0] if row is not None else None


async def add_utilization(
    s: AsyncSession,
    filters: Filters,
    report: Report,
    *,
    limit: int | None,
    burst_cap: int | None,
    now: datetime,
) -> None:
    """Sample calls in flight over the scope's time span."""
    state, started, ended = col(Attempt.state), col(Attempt.dial_started_at), col(Attempt.ended_at)
    where = [*filters.attempts(), state.in_(DIALED)]
    # Each bound is the first entry of an index walked from one end (no scan).
    first = await _edge(s, started, [*where, started.is_not(None)], last=False)
    last_start = await _edge(s, started, [*where, started.is_not(None)], last=True)
    last_end = await _edge(s, ended, [*where, ended.is_not(None)], last=True)
    live_query: Any = select(func.count()).where(*filters.attempts(), state.in_(LIVE))
    live = (await s.exec(live_query)).one()[0]
    usage = Utilization(limit=limit, burst_cap=burst_cap)
    report.utilization = usage
    if first is None:
        return
    end = max(t for t in (first, last_start, last_end, now if live else None) if t is not None)
    if filters.since is not None:
        first = max(first, filters.since)
    if filters.until is not None:
        end = min(end, filters.until)
    width = pick_width(max((end - first).total_seconds(), 1.0))
    # Start on a multiple of the width so the axis reads well (minutes on the minute...).
    origin = datetime.fromtimestamp(first.timestamp() // width * width, first.tzinfo)
    steps = int((end - origin).total_seconds() // width) + 1
    instants = [origin + timedelta(seconds=width * i) for i in range(steps + 1)]
    starts = dict((await s.exec(_counts(started, filters, instants))).all())
    ends = dict((await s.exec(_counts(ended, filters, instants))).all())
    usage.bucket_secs = width
    running = 0
    for i, instant in enumerate(instants):
        running += starts.get(i, 0) - ends.get(i, 0)
        usage.times.append(instant.isoformat())
        usage.in_flight.append(running)
