"""Rendering reports for people: rich tables in the terminal."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from orchestrator.reports.campaign import CampaignReport


def report_tables(report: CampaignReport) -> Group:
    """Dispositions and totals as two readable tables."""
    dispositions = Table(title=f"Campaign {report.campaign!r}: contacts by disposition")
    dispositions.add_column("disposition")
    dispositions.add_column("contacts", justify="right")
    dispositions.add_column("share", justify="right")
    for name, count in sorted(report.dispositions.items(), key=lambda kv: -kv[1]):
        label = name
        if name == "reached" and report.reached_detail:
            label += (
                " (" + ", ".join(f"{k} {v}" for k, v in sorted(report.reached_detail.items())) + ")"
            )
        share = count / report.contacts if report.contacts else 0.0
        dispositions.add_row(label, str(count), f"{share:.0%}")
    dispositions.add_row("[b]total[/b]", f"[b]{report.contacts}[/b]", "")

    totals = Table(title="Totals")
    totals.add_column("measure")
    totals.add_column("value", justify="right")
    rows = [
        ("attempts", f"{report.attempts}"),
        ("dials", f"{report.dials}"),
        ("answered", f"{report.answered}  ({report.answer_rate:.0%} of dials)"),
        ("successful", f"{report.successes}  ({report.success_rate:.0%} of answered)"),
        ("voicemail", f"{report.voicemails}"),
        ("transferred to a human", f"{report.transfers}"),
        ("opted out", f"{report.opt_outs}"),
        ("talk time", f"{report.talk_secs / 60:.1f} min"),
        ("credits", f"{report.credits:,.0f}"),
        ("burst calls (2× price)", f"{report.burst_calls}  ({report.burst_credits:,.0f} credits)"),
    ]
    if report.cost_fiat is not None:
        rows.append(("cost (USD)", f"${report.cost_fiat:,.2f}"))
    for label, value in rows:
        totals.add_row(label, value)
    return Group(dispositions, totals)
