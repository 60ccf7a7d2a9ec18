"""Dialing at the limit: utilisation, 429s, slot hand-over latency, total time, burst by deadline.

Real processes (redis-server, the sandbox, web, worker) on loopback; every figure is read from the
sandbox's own dial log, i.e. from what the provider saw, not from what we think we did.

1. Throughput, burst `off`: 2,000 contacts, sandbox limit 50 (ours 50), every call answered and
   about 2 s long. Time-averaged calls in flight while a backlog exists, concurrency 429s, p95 from
   a call's end to the next dial taking its slot (ends and starts matched first-in first-out),
   and total time against the ideal (calls × mean duration ÷ limit).
2. Burst `deadline`: 600 contacts with bursting enabled at the provider, twice — once with a
   window long enough for the backlog at the plan's limit (no burst may be used), once with a
   window that closes too soon (burst must be used, and is billed 2×).
"""

from __future__ import annotations

import asyncio
import csv
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import select

from benchmarks import Figure
from orchestrator.dev.profile import SAMPLE_AGENT_TOML
from orchestrator.dev.stack import LocalStack
from orchestrator.domain.calendar import calendar_from
from orchestrator.domain.campaign_policy import CallingHours, CampaignPolicy
from orchestrator.intake.csv_import import import_csv
from orchestrator.reports.campaign import CampaignReport, campaign_report
from orchestrator.settings import load_settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Campaign

LIMIT = 50
CALLS = 2_000
#: Seconds a call lasts (ring and talk, wall time).
CALL_SECS = 2.0
#: The deadline scenario runs at a smaller limit: its point is the burst decision, not speed.
DEADLINE_LIMIT = 10
DEADLINE_CALLS = 150
CAMPAIGN = "bench"
ZONE = "America/New_York"
#: A Tuesday, 10:00 in New York: the calendar every bench process reads.
OPEN_AT = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)

#: Simulated seconds × time scale: a 5 s ring and a 95 s talk at 0.02 last 2 s of wall time.
SANDBOX = {
    "concurrency": str(LIMIT),
    "time_scale": "0.02",
    "ring_secs": "5",
    "talk_secs": "95",
    "jitter": "0.1",
    "processing_secs": "0.1",
    "success": "1",
    "failure": "0",
    "voicemail": "0",
    "no_answer": "0",
    "busy": "0",
    "failed": "0",
    "opt_out_rate": "0",
    "transfer_rate": "0",
    "send_audio": "false",
    "seed": "11",
}


def config(limit: int) -> str:
    """The orchestrator's settings for a plan limit of `limit`."""
    return f"""
concurrency_limit = {limit}
calls_per_second = 200
max_call_secs = 60
lease_margin_secs = 30
poll_after_secs = 30
expected_call_secs = 2.2
dispatch_batch = 200
{AGENT_VARIABLES}"""


AGENT_VARIABLES = "\n" + SAMPLE_AGENT_TOML


@dataclass
class Run:
    """What one campaign run left behind."""

    dials: list[dict[str, Any]]
    summary: dict[str, Any]
    report: CampaignReport
    seconds: float


def _contacts(path: Path, count: int) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["external_id", "phone_number", "timezone", "customer_name"])
        for i in range(count):
            writer.writerow([f"b-{i:05d}", f"+1212736{i:04d}", ZONE, f"Contact {i}"])
    return path


#: Shapes the campaign's policy once the contacts are in, just before dialing starts.
Shape = Callable[[CampaignPolicy], CampaignPolicy]


async def _campaign(
    stack: LocalStack, policy: CampaignPolicy, count: int, timeout: float, shape: Shape | None
) -> Run:
    """Import `count` contacts into a paused campaign, then resume it and wait for the end.

    Dialing starts only once every contact is in, so the backlog exists from the first dial.
    """
    settings = load_settings(
        stack.workdir / "orchestrator.toml",
        database_url=stack.database_url,
        redis_url=stack.redis_url or "",
        _env_file=None,
    )
    db = Database(settings.database_url)
    try:
        campaign = Campaign(
            name=CAMPAIGN,
            agent_id=settings.agent_id,
            phone_number_id=settings.phone_number_id,
            status="paused",
            config=policy.model_dump(mode="json"),
        )
        async with db.session() as s:
            s.add(campaign)
        await import_csv(db, settings, _contacts(stack.workdir / "contacts.csv", count), CAMPAIGN)
        started = time.monotonic()
        async with db.session() as s:
            row = await s.get(Campaign, campaign.id)
            assert row is not None
            if shape is not None:
                row.config = shape(policy).model_dump(mode="json")
            row.status = "active"  # resume: dialing starts now
        deadline = started + timeout
        while not await _settled(db) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        seconds = time.monotonic() - started
        for _ in range(40):  # let the sandbox finish its webhooks before reading its counters
            summary = stack.sandbox_get("/sandbox/summary").json()
            if summary.get("settled"):
                break
            await asyncio.sleep(0.25)
        dials = stack.sandbox_get("/sandbox/dials").json()["dials"]
        return Run(dials, summary, await campaign_report(db, CAMPAIGN), seconds)
    finally:
        await db.dispose()


async def _settled(db: Database) -> bool:
    """Every contact final, or nothing left to do today (the rest is due after the window)."""
    report = await campaign_report(db, CAMPAIGN)
    if report.all_final:
        return True
    states = report.attempts_by_state
    if any(states.get(s, 0) for s in ("queued", "dialing", "unknown", "initiated", "in_progress")):
        return False
    async with db.session() as s:
        first_due = (
            await s.exec(select(func.min(Attempt.due_at)).where(Attempt.state == "scheduled"))
        ).one()
    return first_due is not None and first_due > datetime.now(UTC) + timedelta(seconds=30)


def _stack(workdir: Path, *, limit: int, bursting: bool) -> LocalStack:
    stack = LocalStack(
        workdir=workdir,
        sandbox_options={
            **SANDBOX,
            "concurrency": str(limit),
            "bursting": "true" if bursting else "false",
        },
        config_toml=config(limit),
    )
    stack.pin_calendar(OPEN_AT)
    return stack


def _run(
    policy: CampaignPolicy,
    count: int,
    *,
    limit: int,
    bursting: bool,
    timeout: float,
    shape: Shape | None = None,
) -> Run:
    with tempfile.TemporaryDirectory(prefix="orchestrator-bench-dialing-") as tmp:
        stack = _stack(Path(tmp), limit=limit, bursting=bursting)
        try:
            stack.start()
            return asyncio.run(_campaign(stack, policy, count, timeout, shape))
        finally:
            stack.stop()


# ---- figures from the dial log ------------------------------------------------------------------


def utilisation(dials: list[dict[str, Any]], limit: int) -> float:
    """Time-averaged calls in flight ÷ limit, from the first dial to the last (the backlog)."""
    starts = sorted(d["started_at"] for d in dials)
    begin, end = starts[0], starts[-1]
    if end <= begin:
        return 0.0
    busy = sum(
        max(0.0, min(d["ended_at"] or end, end) - max(d["started_at"], begin)) for d in dials
    )
    return float(busy / (end - begin) / limit)


def handover_gaps(dials: list[dict[str, Any]], limit: int) -> list[float]:
    """Seconds from each call's end to the dial that took its slot (FIFO), while a backlog lasts."""
    starts = sorted(d["started_at"] for d in dials)
    ends = sorted(d["ended_at"] for d in dials if d["ended_at"] is not None)
    freed: list[float] = []
    gaps: list[float] = []
    e = 0
    for start in starts[limit:]:
        while e < len(ends) and ends[e] <= start:
            freed.append(ends[e])
            e += 1
        if freed:
            gaps.append(start - freed.pop(0))
    return gaps


def p95(values: list[float]) -> float:
    """The 95th percentile (0 when empty)."""
    if not values:
        return 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[94]


def _throughput() -> list[Figure]:
    run = _run(CampaignPolicy(), CALLS, limit=LIMIT, bursting=False, timeout=300)
    dials = run.dials
    durations = [d["ended_at"] - d["started_at"] for d in dials if d["ended_at"]]
    mean = statistics.fmean(durations)
    ideal = len(dials) * mean / LIMIT
    total = max(d["ended_at"] or 0 for d in dials) - min(d["started_at"] for d in dials)
    gap = p95(handover_gaps(dials, LIMIT)) * 1000
    used = utilisation(dials, LIMIT)
    rejected = int(run.summary["rejected_concurrency"])
    return [
        Figure("dials placed", len(dials), "dials", f"= {CALLS}", len(dials) == CALLS),
        Figure("mean call duration", mean, "s", "about 2 s", 1.5 <= mean <= 2.5),
        Figure("calls in flight while a backlog exists", used * 100, "% of limit", "≥ 97 %",
               used >= 0.97),
        Figure("concurrency 429s from the sandbox", rejected, "", "= 0", rejected == 0),
        Figure("p95 call end → next dial on that slot", gap, "ms", "≤ 100 ms", gap <= 100),
        Figure("total time ÷ ideal", total / ideal, "×", "≤ 1.05×", total / ideal <= 1.05),
        Figure("total time", total, "s", f"ideal {ideal:.1f} s", True),
    ]  # fmt: skip


# ---- burst by deadline --------------------------------------------------------------------------


def _window_ends_in(secs: float, stack: LocalStack) -> Shape:
    """A policy change making today's window close `secs` from now, on the stack's calendar."""
    calendar = calendar_from(OPEN_AT, float(stack.settings_env["ORCH_CLOCK_ANCHOR"]), 1.0)

    def shape(policy: CampaignPolicy) -> CampaignPolicy:
        end = (calendar.now() + timedelta(seconds=secs)).astimezone(ZoneInfo(ZONE))
        hours = {"start": "09:00", "end": end.time().isoformat("seconds")}
        return policy.model_copy(update={"calling_hours": CallingHours.model_validate(hours)})

    return shape


def _deadline_run(window_secs: float) -> Run:
    """The deadline campaign with `window_secs` of window left when dialing starts."""
    policy = CampaignPolicy.model_validate({"burst": {"mode": "deadline"}})
    with tempfile.TemporaryDirectory(prefix="orchestrator-bench-burst-") as tmp:
        stack = _stack(Path(tmp), limit=DEADLINE_LIMIT, bursting=True)
        try:
            stack.start()
            return asyncio.run(
                _campaign(
                    stack,
                    policy,
                    DEADLINE_CALLS,
                    window_secs + 60,
                    _window_ends_in(window_secs, stack),
                )
            )
        finally:
            stack.stop()


def _deadline() -> list[Figure]:
    at_limit = DEADLINE_CALLS * CALL_SECS / DEADLINE_LIMIT
    roomy_secs, tight_secs = 3 * at_limit, 0.6 * at_limit
    roomy = _deadline_run(roomy_secs)
    tight = _deadline_run(tight_secs)
    r, t = roomy.report, tight.report
    costs = t.costs
    base_rate = (costs.credits - costs.burst_credits) / max(1, t.answered - costs.burst_calls)
    burst_rate = costs.burst_credits / costs.burst_calls if costs.burst_calls else 0.0
    surcharge = burst_rate / base_rate if base_rate else 0.0
    inside = sum(
        1 for d in tight.dials if d["started_at"] - tight.dials[0]["started_at"] < tight_secs
    )
    most_at_limit = int(DEADLINE_LIMIT * tight_secs / CALL_SECS)
    return [
        Figure(f"deadline, {roomy_secs:.0f} s window (fits at the plan limit): burst calls",
               r.costs.burst_calls, "calls", "= 0", r.costs.burst_calls == 0),
        Figure(f"deadline, {tight_secs:.0f} s window (too short): burst calls",
               costs.burst_calls, "calls", "> 0", costs.burst_calls > 0),
        Figure("deadline, too short: calls placed inside the window", inside, "calls",
               f"> {most_at_limit} (the most at the plan limit)", inside > most_at_limit),
        Figure("burst price (credits per burst call ÷ per plan-limit call)", surcharge, "×",
               "= 2×", abs(surcharge - 2.0) < 0.05),
        Figure("burst surcharge in the report", costs.burst_surcharge_credits, "credits",
               f"of {costs.credits:,.0f} credits", costs.burst_surcharge_credits > 0),
    ]  # fmt: skip


def run() -> list[Figure]:
    """Both scenarios; their figures in order."""
    return [*_throughput(), *_deadline()]
