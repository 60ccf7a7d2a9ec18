"""`orchestrator demo`: a whole campaign against the local sandbox, in one command.

Starts (or reuses) redis-server, the sandbox provider, the web app and a worker; imports the
bundled sample of about 200 contacts; shows progress until every contact is final; prints the
report; stops everything it started (on Ctrl-C too).

Time in the demo: the sandbox compresses every call (time scale 0.02: a 90 s conversation lasts
under 2 s) and retries are minutes shortened to seconds, so the campaign ends in well under two
minutes. Calling windows are enforced as in production (09:00–20:00 in each contact's local time,
inside the legal 08:00–21:00), but the sample's contacts live from Sydney to Los Angeles, so no
single real hour has them all open. The demo therefore runs every process on its own calendar: it
starts at a fixed instant (a Tuesday, 07:30 UTC) and runs an hour per second, so each time zone's
window opens within seconds of the start, the same way at any real hour of any day. It says so.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlmodel import select

from orchestrator.dev.profile import SAMPLE_AGENT_TOML
from orchestrator.dev.stack import LocalStack
from orchestrator.errors import PricingError
from orchestrator.intake.csv_import import import_csv
from orchestrator.reports.build import ReportConfig
from orchestrator.reports.campaign import CampaignReport, campaign_report
from orchestrator.settings_errors import load_checked
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt

CAMPAIGN = "demo"

DEMO_TOML = (
    """
# The demo profile: sandbox provider, compressed time, short retries.
plan = "pro"
concurrency_limit = 20
calls_per_second = 50
poll_after_secs = 4
unknown_grace_secs = 8
max_call_secs = 60
lease_margin_secs = 30

[retry]
max_attempts = 3
[retry.delay_secs]
no_answer = 1.5
busy = 1.0
voicemail = 2.0
failed = 1.5

"""
    + SAMPLE_AGENT_TOML
)

#: Dollars per credit of the demo's plan ("pro"), the figure of `config/pricing.toml`. The demo's
#: sandbox bills each call in dollars with it (`cost_fiat`, as the provider does where it gives
#: one), so the report shows dollars from any working directory, in every process the demo starts.
DEMO_USD_PER_CREDIT = 0.000198

SANDBOX_OPTIONS = {
    "concurrency": "20",
    "time_scale": "0.02",
    "seed": "7",
    "usd_per_credit": str(DEMO_USD_PER_CREDIT),
}

#: The demo's calendar: where it starts and how fast it runs (calendar seconds per real second).
DEMO_CLOCK_START = datetime(2025, 3, 4, 7, 30, tzinfo=UTC)
DEMO_CLOCK_RATE = 3600.0


def clock_note() -> str:
    """The line the demo prints about its clock."""
    return (
        f"Clock: the demo's calendar starts at {DEMO_CLOCK_START:%a %Y-%m-%d %H:%M} UTC and runs "
        f"{DEMO_CLOCK_RATE:g}× real time (an hour a second), so every contact's calling window "
        "(09:00–20:00 local, inside the legal 08:00–21:00) opens during the demo, at any real hour."
    )


def sample_csv() -> Path:
    """The bundled sample contacts."""
    return Path(str(resources.files("orchestrator") / "data" / "sample_contacts.csv"))


@dataclass
class DemoResult:
    """The report plus what the sandbox itself saw."""

    report: CampaignReport
    sandbox: dict[str, Any]
    dial_check: dict[str, int]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (`orchestrator demo --json`)."""
        return {
            "report": self.report.to_dict(),
            "sandbox": {**self.sandbox, **self.dial_check},
            "seconds": round(self.seconds, 2),
            "clock": clock_note(),
        }


async def dial_check(db: Database, dials: list[dict[str, Any]]) -> dict[str, int]:
    """Compare the sandbox's dial log with our attempts: one dial per attempt, no strays."""
    async with db.read() as s:
        known = {
            conv: attempt_id
            for attempt_id, conv in (
                await s.exec(select(Attempt.id, Attempt.conversation_id))
            ).all()
            if conv
        }
    matched = [known.get(d.get("conversation_id") or "") for d in dials]
    distinct = {m for m in matched if m is not None}
    return {
        "dials": len(dials),
        "distinct_attempts_dialled": len(distinct),
        "duplicate_dials": len(dials) - len(distinct),
        "unmatched_dials": sum(1 for m in matched if m is None),
    }


async def _watch(
    db: Database, config: ReportConfig, progress: Progress | None, timeout: float
) -> CampaignReport:
    deadline = time.monotonic() + timeout
    task = progress.add_task("calling", total=None) if progress else None
    while True:
        report = await campaign_report(db, CAMPAIGN, config)
        if progress is not None and task is not None:
            progress.update(
                task,
                total=report.contacts,
                completed=report.contacts_final,
                description=f"calling · {report.dials} dials",
            )
        if report.all_final or time.monotonic() > deadline:
            return report
        await asyncio.sleep(0.5)


async def run_campaign(
    stack: LocalStack, csv_path: Path, *, console: Console | None, timeout: float
) -> DemoResult:
    """Import the contacts, wait until every one is final, gather the evidence."""
    settings = load_checked(
        stack.workdir / "orchestrator.toml",
        database_url=stack.database_url,
        redis_url=stack.redis_url or "",
        _env_file=None,
    )
    # The report `orchestrator report` prints: the plan's prices and limits, not a bare count.
    try:
        config = ReportConfig.from_settings(settings)
    except PricingError as exc:
        if console:
            console.print(f"[yellow]warning:[/] {exc}; dollars only as the sandbox bills them")
        config = ReportConfig(limit=settings.account_limit)
    db = Database(settings.database_url)
    started = time.monotonic()
    try:
        summary = await import_csv(db, settings, csv_path, CAMPAIGN, create=True)
        if console:
            console.print(
                f"Imported {summary.accepted} contacts into campaign {CAMPAIGN!r}"
                + (f" ({summary.rejected} rows refused)" if summary.rejected else "")
            )
        if console:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            ) as progress:
                report = await _watch(db, config, progress, timeout)
        else:
            report = await _watch(db, config, None, timeout)
        sandbox = stack.sandbox_get("/sandbox/summary").json()
        dials = stack.sandbox_get("/sandbox/dials").json()["dials"]
        check = await dial_check(db, dials)
        return DemoResult(report, sandbox, check, time.monotonic() - started)
    finally:
        await db.dispose()


def run_demo(
    *,
    console: Console | None,
    contacts: Path | None = None,
    workdir: Path | None = None,
    redis_url: str | None = None,
    timeout: float = 180.0,
) -> DemoResult:
    """Start the stack, run the campaign, stop the stack."""
    with tempfile.TemporaryDirectory(prefix="orchestrator-demo-") as tmp:
        stack = LocalStack(
            workdir=workdir or Path(tmp),
            sandbox_options=dict(SANDBOX_OPTIONS),
            config_toml=DEMO_TOML,
            redis_url=redis_url,
        )
        stack.pin_calendar(DEMO_CLOCK_START, DEMO_CLOCK_RATE)
        try:
            if console:
                console.print("Starting redis-server, the sandbox provider, web and worker…")
                console.print(clock_note())
            stack.start()
            return asyncio.run(
                run_campaign(stack, contacts or sample_csv(), console=console, timeout=timeout)
            )
        finally:
            stack.stop()
