"""What the provider said about the calls: successes, transfers, opt-outs, durations and cost.

The totals are one pass over `ix_outcome_report` (every column they read is in the index, so
the long summaries in the rows are never read); percentiles walk `ix_outcome_campaign_duration`
in order to the rank wanted.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.reports.filters import CONNECTED, Filters
from orchestrator.reports.model import Report
from orchestrator.reports.pricing import Price, dollars
from orchestrator.store.models import Outcome


def nearest_rank(count: int, share: float) -> int:
    """0-based offset of the nearest-rank percentile `share` among `count` sorted values."""
    return max(0, math.ceil(share * count) - 1)


async def percentile(
    s: AsyncSession, column: Any, where: list[Any], count: int, share: float
) -> float | None:
    """The nearest-rank percentile of `column` over rows matching `where` (`count` of them)."""
    if count <= 0:
        return None
    query: Any = (
        select(column).where(*where).order_by(column).limit(1).offset(nearest_rank(count, share))
    )
    value = (await s.exec(query)).first()
    return float(value[0]) if value is not None and value[0] is not None else None


def _totals_query(filters: Filters) -> Any:
    state, burst = col(Outcome.state), col(Outcome.is_burst)
    fiat, credits, secs = (
        col(Outcome.cost_fiat),
        col(Outcome.cost_credits),
        col(Outcome.duration_secs),
    )
    unpriced = fiat.is_(None)
    connected = and_(state.in_(CONNECTED), secs.is_not(None))
    # Burst minutes bill at 2× under per-minute pricing.
    billed_secs = secs * case((burst.is_(True), 2), else_=1)
    return select(
        func.count().filter(and_(state == "completed", col(Outcome.call_successful) == "success")),
        func.count().filter(col(Outcome.transferred).is_(True)),
        func.count().filter(col(Outcome.opted_out).is_(True)),
        func.count().filter(connected),
        func.sum(secs).filter(connected),
        func.sum(credits),
        func.count(fiat),
        func.sum(fiat),
        func.count().filter(and_(unpriced, (credits.is_not(None)) | (secs.is_not(None)))),
        func.sum(credits).filter(unpriced),
        func.sum(billed_secs).filter(unpriced),
        func.count().filter(burst.is_(True)),
        func.sum(credits).filter(burst.is_(True)),
        func.sum(fiat).filter(burst.is_(True)),
        func.sum(credits).filter(and_(unpriced, burst.is_(True))),
        func.sum(billed_secs).filter(and_(unpriced, burst.is_(True))),
    ).where(*filters.outcomes())


async def add_outcomes(
    s: AsyncSession, filters: Filters, report: Report, price: Price | None
) -> None:
    """Successes, transfers, opt-outs, durations, credits, dollars and the burst surcharge."""
    row = (await s.exec(_totals_query(filters))).one()
    (
        report.successes,
        report.transfers,
        report.opt_outs,
        connected_calls,
        talk,
        credits,
        fiat_calls,
        fiat,
        priced_calls,
        credits_unpriced,
        secs_unpriced,
        burst_calls,
        burst_credits,
        burst_fiat,
        burst_credits_unpriced,
        burst_secs_unpriced,
    ) = (v or 0 for v in row)

    durations = report.durations
    durations.calls = connected_calls
    durations.total_secs = round(float(talk), 3)
    if connected_calls:
        durations.mean_secs = round(float(talk) / connected_calls, 3)
        where = [
            *filters.outcomes(),
            col(Outcome.duration_secs).is_not(None),
            col(Outcome.state).in_(CONNECTED),
        ]
        secs = col(Outcome.duration_secs)
        durations.p50_secs = await percentile(s, secs, where, connected_calls, 0.5)
        durations.p90_secs = await percentile(s, secs, where, connected_calls, 0.9)

    costs = report.costs
    costs.credits = float(credits)
    costs.fiat_calls = fiat_calls
    costs.priced_calls = priced_calls if price is not None else 0
    costs.price = price.as_dict() if price is not None else None
    costs.usd = _usd(
        dollars(
            price,
            fiat=float(fiat),
            credits_unpriced=float(credits_unpriced),
            burst_minutes_unpriced=float(secs_unpriced) / 60,
        )
    )
    costs.burst_calls = burst_calls
    costs.burst_credits = float(burst_credits)
    # A burst call's cost already includes its 2×: half of it is the surcharge.
    costs.burst_surcharge_credits = float(burst_credits) / 2
    burst_usd = dollars(
        price,
        fiat=float(burst_fiat),
        credits_unpriced=float(burst_credits_unpriced),
        burst_minutes_unpriced=float(burst_secs_unpriced) / 60,
    )
    costs.burst_surcharge_usd = _usd(burst_usd / 2) if burst_usd is not None else None
    if report.reached:
        costs.credits_per_reached_contact = round(costs.credits / report.reached, 2)
        if costs.usd is not None:
            costs.usd_per_reached_contact = _usd(costs.usd / report.reached)


def _usd(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None
