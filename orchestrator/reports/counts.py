"""Contacts by disposition, attempts by state, dials and answers by local hour.

Each is one grouped query whose groups follow an index's order (no sort over rows); Python only
folds the few dozen groups that come back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.domain.outcome import FINAL_DISPOSITIONS, Disposition
from orchestrator.reports.filters import DIALED, Filters
from orchestrator.reports.model import HourRow, Report
from orchestrator.store.models import Attempt, Contact

#: Dispositions after which nothing more happens to a contact (voicemail too: retries are over).
FINAL: frozenset[str] = frozenset({d.value for d in FINAL_DISPOSITIONS} | {Disposition.VOICEMAIL})


async def add_contacts(s: AsyncSession, filters: Filters, report: Report) -> None:
    """Contacts by disposition (reached split by the provider's verdict), attempts per contact."""
    query: Any = (
        select(
            col(Contact.disposition),
            col(Contact.disposition_detail),
            col(Contact.attempts_made),
            func.count(),
        )
        .where(*filters.contacts())
        .group_by(
            col(Contact.disposition), col(Contact.disposition_detail), col(Contact.attempts_made)
        )
    )
    for disposition, detail, made, count in (await s.exec(query)).all():
        report.contacts += count
        report.dispositions[disposition] = report.dispositions.get(disposition, 0) + count
        if disposition in FINAL:
            report.contacts_final += count
        if disposition == Disposition.REACHED:
            report.reached += count
            label = detail or "unknown"
            report.reached_detail[label] = report.reached_detail.get(label, 0) + count
        key = str(made)
        dist = report.attempts_per_contact_distribution
        dist[key] = dist.get(key, 0) + count
        if made:
            report.contacts_dialled += count
            report.attempts_made += made * count
    report.attempts_per_contact_distribution = dict(
        sorted(report.attempts_per_contact_distribution.items(), key=lambda kv: int(kv[0]))
    )


async def add_attempts(s: AsyncSession, filters: Filters, report: Report) -> None:
    """Attempts by state, dials, answers and voicemails, and both by local hour of day."""
    query: Any = (
        select(col(Attempt.state), col(Attempt.local_hour), func.count())
        .where(*filters.attempts())
        .group_by(col(Attempt.state), col(Attempt.local_hour))
    )
    hours: dict[int | None, HourRow] = {}
    for state, hour, count in (await s.exec(query)).all():
        report.attempts += count
        report.attempts_by_state[state] = report.attempts_by_state.get(state, 0) + count
        if state not in DIALED:
            continue
        row = hours.setdefault(hour, HourRow(hour))
        row.dials += count
        report.dials += count
        if state == "completed":
            row.answered += count
    report.answered = report.attempts_by_state.get("completed", 0)
    report.voicemails = report.attempts_by_state.get("voicemail", 0)
    report.attempts_by_state = dict(sorted(report.attempts_by_state.items()))
    # Every hour of the day is listed, so charts and CSVs have a fixed shape.
    report.by_hour = [hours.get(h, HourRow(h)) for h in range(24)]
    if None in hours:
        report.by_hour.append(hours[None])
