# ruff: noqa: E501  (HTML fragments read better unwrapped)
"""The report and the dashboard as HTML: server-rendered, inline CSS and SVG, no external file.

Every figure is rendered from the `Report` object (the JSON report's), inside an element
carrying `data-metric` (its JSON key) and `data-value` (the exact number), so a test or a
script can read the page's numbers back and compare them with the JSON.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from orchestrator.reports.live import LiveCalls
from orchestrator.reports.model import DEFINITIONS, Report
from orchestrator.reports.render import measures, pct, secs, usd
from orchestrator.reports.svg import bars, line, meter

STYLE = """
:root{--bg:#f6f7f9;--card:#fff;--ink:#1c2430;--mute:#5b6675;--line:#dde2e8;--s1:#2f6fdb;
--s2:#1aa37a;--s3:#d98a1c;--s4:#c2413b;--s5:#8a63d2;--warn:#c2413b}
@media (prefers-color-scheme:dark){:root{--bg:#12161c;--card:#1b212a;--ink:#e6eaf0;
--mute:#9aa5b4;--line:#2c3440}}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,
sans-serif;background:var(--bg);color:var(--ink)}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:baseline;padding:.8rem 1rem;
border-bottom:1px solid var(--line);background:var(--card)}
header h1{font-size:1.15rem;margin:0}header .mute{font-size:.85rem}
main{max-width:1200px;margin:0 auto;padding:1rem;display:grid;gap:1rem}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1rem}
h2{font-size:1rem;margin:0 0 .7rem}.mute{color:var(--mute)}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:.6rem}
.kpi{border:1px solid var(--line);border-radius:8px;padding:.55rem .7rem}
.kpi .label{font-size:.78rem;color:var(--mute)}.kpi .big{font-size:1.35rem;font-weight:600}
.kpi .sub{font-size:.78rem;color:var(--mute)}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.3rem .4rem;border-bottom:1px solid var(--line)}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto}
svg.chart{width:100%;height:auto;display:block}svg.meter{width:100%;height:14px;display:block;
border-radius:7px}
.chart .grid{stroke:var(--line)}.chart .axis{fill:var(--mute);font-size:11px}
.s1{fill:var(--s1)}.s2{fill:var(--s2)}.s3{fill:var(--s3)}.s4{fill:var(--s4)}.s5{fill:var(--s5)}
.line{fill:none;stroke:var(--s1);stroke-width:2}.area{fill:var(--s1);opacity:.15}
.limit{stroke:var(--warn);stroke-dasharray:5 4}.limit-label{fill:var(--warn)}
.track{fill:var(--line)}.legend span{display:inline-flex;align-items:center;gap:.3rem;
margin-right:.8rem;font-size:.8rem}.legend i{width:.7rem;height:.7rem;border-radius:2px;
display:inline-block}
.campaign a{color:inherit;font-weight:600}.campaign.active{background:color-mix(in srgb,
var(--s1) 10%,transparent)}
details summary{cursor:pointer;color:var(--mute)}
@media (max-width:600px){main{padding:.5rem}section{padding:.7rem}.kpi .big{font-size:1.1rem}}
"""

_DISPOSITION_CLASSES = {
    "reached": "s2",
    "voicemail": "s3",
    "unreachable": "s4",
    "do_not_call": "s5",
    "pending": "track",
    "in_progress": "s1",
}


def figure(metric: str, value: float | int | None, shown: str) -> str:
    """A number on the page with the exact value it shows, for machines."""
    raw = "" if value is None else repr(value)
    return f'<span data-metric="{escape(metric)}" data-value="{escape(raw)}">{escape(shown)}</span>'


def _kpi(label: str, body: str, sub: str = "") -> str:
    sub_html = f'<div class="sub">{sub}</div>' if sub else ""
    return f'<div class="kpi"><div class="label">{escape(label)}</div><div class="big">{body}</div>{sub_html}</div>'


def kpis(report: Report) -> str:
    """The headline numbers as cards."""
    c, d = report.costs, report.durations
    cards = [
        _kpi(
            "contacts",
            figure("contacts", report.contacts, f"{report.contacts:,}"),
            figure("contacts_final", report.contacts_final, f"{report.contacts_final:,}")
            + " final",
        ),
        _kpi(
            "dials",
            figure("dials", report.dials, f"{report.dials:,}"),
            figure("attempts", report.attempts, f"{report.attempts:,}") + " attempts",
        ),
        _kpi(
            "answer rate",
            figure("answer_rate", report.answer_rate, pct(report.answer_rate)),
            figure("answered", report.answered, f"{report.answered:,}") + " answered",
        ),
        _kpi(
            "reach rate",
            figure("reach_rate", report.reach_rate, pct(report.reach_rate)),
            figure("reached", report.reached, f"{report.reached:,}") + " contacts reached",
        ),
        _kpi(
            "success rate",
            figure("success_rate", report.success_rate, pct(report.success_rate)),
            figure("successes", report.successes, f"{report.successes:,}") + " successful",
        ),
        _kpi(
            "voicemail rate",
            figure("voicemail_rate", report.voicemail_rate, pct(report.voicemail_rate)),
            figure("voicemails", report.voicemails, f"{report.voicemails:,}") + " voicemails",
        ),
        _kpi(
            "transfers · opt-outs",
            figure("transfers", report.transfers, f"{report.transfers:,}")
            + " · "
            + figure("opt_outs", report.opt_outs, f"{report.opt_outs:,}"),
        ),
        _kpi(
            "attempts per contact",
            figure(
                "attempts_per_contact",
                report.attempts_per_contact,
                f"{report.attempts_per_contact:.2f}",
            ),
        ),
        _kpi(
            "duration p50 / p90",
            figure("durations.p50_secs", d.p50_secs, secs(d.p50_secs))
            + " / "
            + figure("durations.p90_secs", d.p90_secs, secs(d.p90_secs)),
            figure("durations.calls", d.calls, f"{d.calls:,}") + " connected calls",
        ),
        _kpi(
            "credits",
            figure("costs.credits", c.credits, f"{c.credits:,.0f}"),
            figure(
                "costs.credits_per_reached_contact",
                c.credits_per_reached_contact,
                "—"
                if c.credits_per_reached_contact is None
                else f"{c.credits_per_reached_contact:,.0f}",
            )
            + " per reached contact",
        ),
        _kpi(
            "cost",
            figure("costs.usd", c.usd, usd(c.usd)),
            figure(
                "costs.usd_per_reached_contact",
                c.usd_per_reached_contact,
                usd(c.usd_per_reached_contact),
            )
            + " per reached contact",
        ),
        _kpi(
            "burst calls",
            figure("costs.burst_calls", c.burst_calls, f"{c.burst_calls:,}"),
            "surcharge "
            + figure(
                "costs.burst_surcharge_credits",
                c.burst_surcharge_credits,
                f"{c.burst_surcharge_credits:,.0f}",
            )
            + " credits · "
            + figure(
                "costs.burst_surcharge_usd", c.burst_surcharge_usd, usd(c.burst_surcharge_usd)
            ),
        ),
    ]
    return f'<div class="kpis">{"".join(cards)}</div>'


def _legend(*items: tuple[str, str]) -> str:
    return (
        '<div class="legend">'
        + "".join(
            f'<span><i class="{css}" style="background:var(--{css})"></i>{escape(n)}</span>'
            for n, css in items
        )
        + "</div>"
    )


def charts(report: Report) -> str:
    """Dispositions, hours and slot utilization."""
    dispo = meter(
        "dispositions",
        "Contacts by disposition",
        [
            (k, _DISPOSITION_CLASSES.get(k, "s1"), v)
            for k, v in sorted(report.dispositions.items(), key=lambda kv: -kv[1])
        ],
        report.contacts,
    )
    dispo_rows = "".join(
        f'<tr><td>{escape(k)}</td><td class="n">{figure(f"dispositions.{k}", v, f"{v:,}")}</td></tr>'
        for k, v in sorted(report.dispositions.items(), key=lambda kv: -kv[1])
    )
    hours = [h for h in report.by_hour if h.hour is not None]
    hour_chart = bars(
        "by_hour",
        "Dials and answers by local hour",
        [f"{h.hour:02d}" for h in hours],
        [("dials", [h.dials for h in hours]), ("answered", [h.answered for h in hours])],
    )
    unknown = next((h for h in report.by_hour if h.hour is None), None)
    unknown_note = (
        f'<p class="mute">{unknown.dials:,} dials without a recorded hour.</p>' if unknown else ""
    )
    u = report.utilization
    limits = [("limit", float(u.limit))] if u.limit else []
    if u.burst_cap and u.limit and u.burst_cap > u.limit and u.peak > u.limit:
        limits.append(("burst cap", float(u.burst_cap)))
    cut = 19 if u.bucket_secs < 60 else 16
    labels = [t[11:cut] if u.bucket_secs < 86400 else t[:10] for t in u.times]
    util_chart = line(
        "utilization",
        "Calls in flight over time",
        labels,
        [float(v) for v in u.in_flight],
        limits=limits,
    )
    return f"""
<div class="grid2">
<section><h2>Contacts by disposition</h2>{dispo}<div class="scroll"><table>{dispo_rows}</table></div></section>
<section><h2>Dials and answers by local hour</h2>{hour_chart}
{_legend(("dials", "s1"), ("answered", "s2"))}{unknown_note}</section>
</div>
<section><h2>Slot utilization</h2>{util_chart}<p class="mute">Calls in flight every
{u.bucket_secs:,} s; peak {figure("utilization.peak", u.peak, str(u.peak))} of
{u.limit or "?"} (mean {pct(u.mean_utilization or 0)} of the limit).</p></section>"""


def tables(report: Report) -> str:
    """Attempts by state, data collection, evaluation, and the definitions."""
    states = "".join(
        f'<tr><td>{escape(k)}</td><td class="n">{figure(f"attempts_by_state.{k}", v, f"{v:,}")}</td></tr>'
        for k, v in report.attempts_by_state.items()
    )
    fields = []
    for name, stats in report.data_collection.items():
        shown = ", ".join(f"{escape(v)} {n:,}" for v, n in stats.values.items())
        if stats.other_values:
            shown += f", {stats.other_values:,} other ({stats.distinct_values:,} distinct)"
        n = stats.numbers
        if n and n.mean is not None:
            shown += f"{'; ' if shown else ''}mean {n.mean:,.2f} · p50 {n.p50 or 0:,.2f} · p90 {n.p90 or 0:,.2f}"
        fields.append(
            f'<tr><td>{escape(name)}</td><td class="n">{stats.count:,}</td><td>{shown}</td></tr>'
        )
    criteria = "".join(
        f'<tr><td>{escape(k)}</td><td class="n">{figure(f"evaluation.{k}.pass_rate", c.pass_rate, pct(c.pass_rate))}'
        f'</td><td class="n">{c.success:,}</td><td class="n">{c.failure:,}</td><td class="n">{c.unknown:,}</td></tr>'
        for k, c in report.evaluation.items()
    )
    totals = "".join(
        f"<tr><td>{escape(k)}</td><td class='n'>{escape(v)}</td></tr>" for k, v in measures(report)
    )
    definitions = "".join(
        f"<li><b>{escape(k)}</b>: {escape(v)}</li>" for k, v in DEFINITIONS.items()
    )
    return f"""
<div class="grid2">
<section><h2>Attempts by state</h2><div class="scroll"><table>{states}</table></div></section>
<section><h2>Totals</h2><div class="scroll"><table>{totals}</table></div></section>
</div>
<div class="grid2">
<section><h2>Data collection</h2><div class="scroll"><table><tr><th>item</th><th class="n">calls</th>
<th>values</th></tr>{"".join(fields) or '<tr><td colspan="3" class="mute">nothing collected yet</td></tr>'}</table></div></section>
<section><h2>Evaluation criteria</h2><div class="scroll"><table><tr><th>criterion</th><th class="n">pass</th>
<th class="n">success</th><th class="n">failure</th><th class="n">unknown</th></tr>{criteria or '<tr><td colspan="5" class="mute">no evaluations yet</td></tr>'}</table></div></section>
</div>
<section><details><summary>Definitions</summary><ul>{definitions}</ul></details></section>"""


def report_body(report: Report) -> str:
    """The whole report as page sections."""
    return (
        f"<section><h2>{escape(report.title)}</h2>{kpis(report)}"
        f'<p class="mute">Generated {escape(report.generated_at)}</p></section>'
        f"{charts(report)}{tables(report)}"
    )


def live_body(live: LiveCalls, selected: str | None) -> str:
    """Calls in flight against the limit, and every campaign's progress."""
    normal = max(live.in_flight - live.burst, 0)
    gauge = meter(
        "live",
        "Calls in flight",
        [("within the limit", "s1", normal), ("burst", "s3", live.burst)],
        max(live.burst_cap, live.in_flight, 1),
    )
    rows = "".join(
        f'<tr class="campaign{" active" if c.name == selected else ""}"><td>'
        f'<a href="?campaign={escape(quote(c.name))}">{escape(c.name)}</a> <span class="mute">{escape(c.status)}</span></td>'
        f"<td>{meter('progress', f'{c.name} progress', [('final', 's2', c.final)], max(c.contacts, 1))}</td>"
        f'<td class="n">{c.final:,} / {c.contacts:,}</td><td class="n">{c.live:,}'
        f"{f' ({c.live_burst} burst)' if c.live_burst else ''}</td></tr>"
        for c in live.campaigns
    )
    return f"""
<section><h2>Live calls</h2>
<div class="kpis"><div class="kpi"><div class="label">in flight</div><div class="big">
{figure("live.in_flight", live.in_flight, str(live.in_flight))} <span class="mute">/ {live.limit}</span></div>
<div class="sub">{figure("live.burst", live.burst, str(live.burst))} burst (cap {live.burst_cap})</div></div></div>
{gauge}{_legend(("within the limit", "s1"), ("burst (2× price)", "s3"))}
<p class="mute">source: {escape(live.source)}</p></section>
<section><h2>Campaigns</h2><div class="scroll"><table><tr><th>campaign</th><th style="width:35%">progress</th>
<th class="n">final</th><th class="n">live</th></tr>{rows or '<tr><td colspan="4" class="mute">no campaigns</td></tr>'}</table></div></section>"""


def document(title: str, body: str, *, header: str = "", script: str = "", nonce: str = "") -> str:
    """A complete, self-contained HTML page."""
    script_tag = f'<script nonce="{escape(nonce)}">{script}</script>' if script else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)}</title>
<style>{STYLE}</style></head><body><header><h1>{escape(title)}</h1>{header}</header>
<main id="content">{body}</main>{script_tag}</body></html>"""


def report_document(report: Report) -> str:
    """The report as a standalone HTML file (`orchestrator report --format html`)."""
    return document(report.title, report_body(report))
