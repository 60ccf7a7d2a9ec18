"""Data-collection items and evaluation criteria, aggregated from `outcomevalue`.

Categories (strings, booleans) are counted per value, the ten most frequent kept with the number
of distinct values and the rest summed (a free-text item has as many values as calls); numbers
get count, mean, min, max and nearest-rank p50/p90. Evaluation results are counted per criterion.
All grouping happens in SQL over `ix_outcomevalue_report`; no outcome's JSON is parsed here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.reports.filters import Filters
from orchestrator.reports.model import Criterion, FieldStats, NumberStats, Report
from orchestrator.reports.outcomes import percentile
from orchestrator.store.outcome_values import KIND_DATA, KIND_EVAL, OutcomeValue

TOP_VALUES = 10


def _categories_query(where: list[Any]) -> Any:
    key, text = col(OutcomeValue.key), col(OutcomeValue.text_value)
    grouped = (
        select(key.label("key"), text.label("value"), func.count().label("n"))
        .where(*where, text.is_not(None))
        .group_by(key, text)
        .subquery()
    )
    ranked = select(
        grouped.c.key,
        grouped.c.value,
        grouped.c.n,
        func.row_number()
        .over(partition_by=grouped.c.key, order_by=(grouped.c.n.desc(), grouped.c.value))
        .label("rank"),
        func.count().over(partition_by=grouped.c.key).label("distinct"),
        func.sum(grouped.c.n).over(partition_by=grouped.c.key).label("total"),
    ).subquery()
    return select(
        ranked.c.key, ranked.c.value, ranked.c.n, ranked.c.distinct, ranked.c.total
    ).where(ranked.c.rank <= TOP_VALUES)


async def add_fields(s: AsyncSession, filters: Filters, report: Report) -> None:
    """Every data-collection item's values and every evaluation criterion's results."""
    data = [*filters.values(), col(OutcomeValue.kind) == KIND_DATA]
    fields: dict[str, FieldStats] = {}
    for key, value, n, distinct, total in (await s.exec(_categories_query(data))).all():
        stats = fields.setdefault(key, FieldStats())
        stats.values[value] = n
        stats.distinct_values = distinct
        stats.count = int(total)
    for stats in fields.values():
        stats.other_values = stats.count - sum(stats.values.values())

    num = col(OutcomeValue.num_value)
    numbers: Any = (
        select(col(OutcomeValue.key), func.count(num), func.avg(num), func.min(num), func.max(num))
        .where(*data, col(OutcomeValue.text_value).is_(None))
        .group_by(col(OutcomeValue.key))
    )
    for key, count, mean, low, high in (await s.exec(numbers)).all():
        where = [*data, col(OutcomeValue.key) == key, col(OutcomeValue.text_value).is_(None)]
        stats = fields.setdefault(key, FieldStats())
        stats.count += count
        stats.numbers = NumberStats(
            count=count,
            mean=round(float(mean), 4) if mean is not None else None,
            min=low,
            max=high,
            p50=await percentile(s, num, where, count, 0.5),
            p90=await percentile(s, num, where, count, 0.9),
        )
    report.data_collection = dict(sorted(fields.items()))

    results: Any = (
        select(col(OutcomeValue.key), col(OutcomeValue.text_value), func.count())
        .where(*filters.values(), col(OutcomeValue.kind) == KIND_EVAL)
        .group_by(col(OutcomeValue.key), col(OutcomeValue.text_value))
    )
    criteria: dict[str, Criterion] = {}
    for key, result, count in (await s.exec(results)).all():
        criterion = criteria.setdefault(key, Criterion())
        if result == "success":
            criterion.success += count
        elif result == "failure":
            criterion.failure += count
        else:
            criterion.unknown += count
    report.evaluation = dict(sorted(criteria.items()))
