"""CSV: the report as rows (section, item, measure, value) and the per-contact export for the CRM.

The contact export streams in pages keyed by contact id, each page its own short read snapshot,
so a campaign of any size is exported in constant memory and never holds a long transaction.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from orchestrator.domain.text import shown
from orchestrator.reports.model import DEFINITIONS, Report
from orchestrator.store import campaigns
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Contact, Outcome
from orchestrator.store.outcome_values import KIND_DATA, OutcomeValue

PAGE = 2000
CONTACT_COLUMNS = (
    "external_id",
    "phone_number",
    "disposition",
    "disposition_detail",
    "attempts",
    "last_outcome",
    "transferred",
    "last_summary",
)


def _lines(rows: Iterable[Iterable[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def report_rows(report: Report) -> list[tuple[str, str, str, Any]]:
    """Every figure as (section, item, measure, value), the definitions last."""
    rows: list[tuple[str, str, str, Any]] = [
        ("scope", k, "", v or "") for k, v in report.scope.items()
    ]
    for name in (
        "contacts",
        "contacts_final",
        "reached",
        "attempts",
        "dials",
        "answered",
        "voicemails",
        "successes",
        "transfers",
        "opt_outs",
        "contacts_dialled",
        "attempts_made",
    ):
        rows.append(("totals", name, "count", getattr(report, name)))
    rows += [("rates", name, "ratio", value) for name, value in report.rates().items()]
    rows += [("dispositions", k, "contacts", v) for k, v in report.dispositions.items()]
    rows += [("reached", k, "contacts", v) for k, v in report.reached_detail.items()]
    rows += [("attempts_by_state", k, "attempts", v) for k, v in report.attempts_by_state.items()]
    rows += [
        ("attempts_per_contact", k, "contacts", v)
        for k, v in report.attempts_per_contact_distribution.items()
    ]
    d = report.durations
    rows += [
        ("duration", "connected calls", m, getattr(d, m))
        for m in ("calls", "total_secs", "mean_secs", "p50_secs", "p90_secs")
    ]
    c = report.costs
    rows += [
        ("cost", "all calls", m, getattr(c, m))
        for m in (
            "credits",
            "credits_per_reached_contact",
            "usd",
            "usd_per_reached_contact",
            "fiat_calls",
            "priced_calls",
            "burst_calls",
            "burst_credits",
            "burst_surcharge_credits",
            "burst_surcharge_usd",
        )
    ]
    for name, stats in report.data_collection.items():
        rows.append(("data_collection", name, "calls", stats.count))
        rows += [("data_collection", name, f"value:{v}", n) for v, n in stats.values.items()]
        if stats.other_values:
            rows.append(("data_collection", name, "other values", stats.other_values))
        if stats.numbers:
            n = stats.numbers
            rows += [
                ("data_collection", name, m, getattr(n, m))
                for m in ("count", "mean", "min", "max", "p50", "p90")
            ]
    for name, crit in report.evaluation.items():
        rows += [
            ("evaluation", name, m, v)
            for m, v in (
                ("pass_rate", crit.pass_rate),
                ("success", crit.success),
                ("failure", crit.failure),
                ("unknown", crit.unknown),
            )
        ]
    for hour in report.by_hour:
        label = "unknown" if hour.hour is None else f"{hour.hour:02d}"
        rows += [
            ("by_hour", label, "dials", hour.dials),
            ("by_hour", label, "answered", hour.answered),
        ]
    u = report.utilization
    rows += [("utilization", t, "in_flight", n) for t, n in zip(u.times, u.in_flight, strict=True)]
    rows += [("definitions", k, "", v) for k, v in DEFINITIONS.items()]
    return [(s, i, m, "" if v is None else v) for s, i, m, v in rows]


def report_csv(report: Report) -> str:
    """The report as one CSV document."""
    return _lines([("section", "item", "measure", "value"), *report_rows(report)])


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run as a formula (stored text that cannot be carried,
    from before the text rule, written as escapes: a lone surrogate cannot be encoded)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = shown(str(value))
    if text[:1] in ("=", "+", "-", "@") and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


async def contacts_csv(db: Database, campaign: str) -> AsyncIterator[str]:
    """The campaign's contacts, one CSV line each, with the last data collected from them.

    Raises:
        NotFound: no such campaign (before anything is yielded).
    """
    async with db.read() as s:
        campaign_id = (await campaigns.get_by_name(s, campaign)).id
        keys_query: Any = (
            select(col(OutcomeValue.key))
            .where(
                col(OutcomeValue.campaign_id) == campaign_id, col(OutcomeValue.kind) == KIND_DATA
            )
            .distinct()
            .order_by(col(OutcomeValue.key))
        )
        keys = [k for (k,) in (await s.exec(keys_query)).all()]
    return _contact_pages(db, campaign_id, keys)


async def _contact_pages(
    db: Database, campaign_id: int | None, keys: list[str]
) -> AsyncIterator[str]:
    yield _lines([(*CONTACT_COLUMNS, *(f"data.{k}" for k in keys))])
    after = 0
    while True:
        async with db.read() as s:
            page_query: Any = (
                select(
                    col(Contact.id),
                    *(col(getattr(Contact, c)) for c in CONTACT_COLUMNS if c != "attempts"),
                    col(Contact.attempts_made),
                )
                .where(col(Contact.campaign_id) == campaign_id, col(Contact.id) > after)
                .order_by(col(Contact.id))
                .limit(PAGE)
            )
            page = (await s.exec(page_query)).all()
            if not page:
                return
            ids = [row[0] for row in page]
            collected_query: Any = (
                select(col(Attempt.contact_id), col(Outcome.data_collection))
                .join(Outcome, col(Outcome.attempt_id) == col(Attempt.id))
                .where(col(Attempt.contact_id).in_(ids))
                .order_by(col(Attempt.contact_id), col(Attempt.seq))
            )
            # Later attempts come last, so the newest non-empty collection wins.
            collected: dict[int, dict[str, Any]] = {}
            for contact_id, data in (await s.exec(collected_query)).all():
                if data:
                    collected[contact_id] = data
        lines = []
        for row in page:
            cid, external_id, phone, disposition, detail, last, transferred, summary, made = row
            data = collected.get(cid, {})
            lines.append(
                [
                    shown(external_id),
                    shown(phone),
                    disposition,
                    _cell(detail),
                    made,
                    _cell(last),
                    _cell(bool(transferred)),
                    _cell(summary),
                    *(_cell(data.get(k)) for k in keys),
                ]
            )
        yield _lines(lines)
        after = ids[-1]
