"""The report for people in a terminal: rich tables, the definitions underneath."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from orchestrator.reports.model import DEFINITIONS, Report


def pct(value: float) -> str:
    """A share as a percentage with one decimal."""
    return f"{value:.1%}"


def usd(value: float | None) -> str:
    """Dollars, or a dash when unknown."""
    return "—" if value is None else f"${value:,.2f}"


def secs(value: float | None) -> str:
    """Seconds as `m:ss`, or a dash."""
    if value is None:
        return "—"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes}:{seconds:02d}"


def measures(report: Report) -> list[tuple[str, str]]:
    """The headline figures, labelled (the table, the CSV and the HTML page all show these)."""
    c, d = report.costs, report.durations
    rows = [
        ("contacts", f"{report.contacts:,}  ({report.contacts_final:,} final)"),
        ("attempts", f"{report.attempts:,}"),
        ("dials", f"{report.dials:,}"),
        ("answered", f"{report.answered:,}  (answer rate {pct(report.answer_rate)})"),
        ("voicemail", f"{report.voicemails:,}  (voicemail rate {pct(report.voicemail_rate)})"),
        ("contacts reached", f"{report.reached:,}  (reach rate {pct(report.reach_rate)})"),
        ("successful", f"{report.successes:,}  (success rate {pct(report.success_rate)})"),
        ("transferred to a human", f"{report.transfers:,}"),
        ("opted out", f"{report.opt_outs:,}"),
        ("attempts per contact", f"{report.attempts_per_contact:.2f}"),
        ("duration p50 / p90", f"{secs(d.p50_secs)} / {secs(d.p90_secs)}  ({d.calls:,} calls)"),
        ("credits", f"{c.credits:,.0f}"),
        (
            "credits per reached contact",
            "—"
            if c.credits_per_reached_contact is None
            else f"{c.credits_per_reached_contact:,.0f}",
        ),
        ("cost (USD)", usd(c.usd)),
        ("cost per reached contact", usd(c.usd_per_reached_contact)),
        ("burst calls (billed 2×)", f"{c.burst_calls:,}"),
        (
            "burst surcharge",
            f"{c.burst_surcharge_credits:,.0f} credits · {usd(c.burst_surcharge_usd)}",
        ),
    ]
    if report.utilization.limit:
        u = report.utilization
        mean = "—" if u.mean_utilization is None else pct(u.mean_utilization)
        rows.append(("slot utilization", f"peak {u.peak} of {u.limit} · mean {mean}"))
    return rows


def _fields(report: Report) -> Table:
    fields = Table(title="Data collection", title_justify="left")
    fields.add_column("item")
    fields.add_column("calls", justify="right")
    fields.add_column("values")
    for name, stats in report.data_collection.items():
        shown = ", ".join(f"{v} {n:,}" for v, n in stats.values.items())
        if stats.other_values:
            shown += f", {stats.other_values:,} other ({stats.distinct_values:,} distinct)"
        n = stats.numbers
        if n is not None and n.mean is not None and n.p50 is not None and n.p90 is not None:
            shown = (shown + "; " if shown else "") + (
                f"mean {n.mean:,.2f}, p50 {n.p50:,.2f}, p90 {n.p90:,.2f}"
            )
        fields.add_row(name, f"{stats.count:,}", shown)
    return fields


def report_tables(report: Report) -> Group:
    """Every part of the report as readable tables."""
    parts: list[Table | Text] = []
    dispositions = Table(title=f"{report.title}: contacts by disposition", title_justify="left")
    dispositions.add_column("disposition")
    dispositions.add_column("contacts", justify="right")
    dispositions.add_column("share", justify="right")
    for name, count in sorted(report.dispositions.items(), key=lambda kv: -kv[1]):
        label = name
        if name == "reached" and report.reached_detail:
            detail = ", ".join(f"{k} {v}" for k, v in sorted(report.reached_detail.items()))
            label += f" ({detail})"
        share = count / report.contacts if report.contacts else 0.0
        dispositions.add_row(label, f"{count:,}", f"{share:.0%}")
    dispositions.add_row("[b]total[/b]", f"[b]{report.contacts:,}[/b]", "")
    parts.append(dispositions)

    totals = Table(title="Totals", title_justify="left")
    totals.add_column("measure")
    totals.add_column("value", justify="right")
    for label, value in measures(report):
        totals.add_row(label, value)
    parts.append(totals)

    states = Table(title="Attempts by state", title_justify="left")
    states.add_column("state")
    states.add_column("attempts", justify="right")
    for state, count in report.attempts_by_state.items():
        states.add_row(state, f"{count:,}")
    parts.append(states)

    if report.data_collection:
        parts.append(_fields(report))
    if report.evaluation:
        criteria = Table(title="Evaluation criteria", title_justify="left")
        for column in ("criterion", "pass rate", "success", "failure", "unknown"):
            criteria.add_column(column, justify="left" if column == "criterion" else "right")
        for name, c in report.evaluation.items():
            criteria.add_row(
                name, pct(c.pass_rate), f"{c.success:,}", f"{c.failure:,}", f"{c.unknown:,}"
            )
        parts.append(criteria)

    hours = Table(title="Dials and answers by local hour", title_justify="left")
    for column in ("hour", "dials", "answered", "answer rate"):
        hours.add_column(column, justify="right")
    for row in report.by_hour:
        if row.dials:
            label = "unknown" if row.hour is None else f"{row.hour:02d}:00"
            hours.add_row(
                label, f"{row.dials:,}", f"{row.answered:,}", pct(row.answered / row.dials)
            )
    parts.append(hours)

    notes = Text("\n".join(f"{k}: {v}" for k, v in DEFINITIONS.items()), style="dim")
    parts.append(notes)
    return Group(*parts)
