"""Reliability on real processes: workers killed mid-campaign, and a provider that misbehaves.

Each test runs a 300-contact campaign on a real redis-server, the sandbox, web and worker
processes, then checks what the provider itself saw: every contact final, exactly one dial per
attempt (no stray or duplicate dial), never two live calls to one number, never over the limit.
"""

from __future__ import annotations

import asyncio
import csv
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from orchestrator.dev.demo import dial_check
from orchestrator.dev.stack import LocalStack
from orchestrator.intake.csv_import import import_csv
from orchestrator.reports.campaign import campaign_report
from orchestrator.settings import load_settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt

pytestmark = pytest.mark.e2e

CAMPAIGN = "reliability"
CONTACTS = 300
#: Tuesday 10:00 in New York: every contact's window is open, whatever the real time.
OPEN_AT = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)

CONFIG = """
concurrency_limit = 20
calls_per_second = 100
provider_timeout_secs = 2
poll_after_secs = 3
unknown_grace_secs = 3
stale_queued_secs = 8
max_call_secs = 20
lease_margin_secs = 10

[retry]
max_attempts = 2
[retry.delay_secs]
no_answer = 0.5
busy = 0.5
voicemail = 0.5
failed = 0.5

[agents.agent_sandbox.variables.customer_name]
type = "string"
[agents.agent_sandbox.variables.plan]
type = "string"
default = "basic"
[agents.agent_sandbox.variables.balance]
type = "number"
default = 0
[agents.agent_sandbox.variables.visits]
type = "integer"
default = 0
[agents.agent_sandbox.variables.vip]
type = "boolean"
default = false
"""

#: Calls of about a second (ring 10 s + talk 40 s simulated, at 0.02).
SANDBOX = {
    "concurrency": "20",
    "time_scale": "0.02",
    "ring_secs": "10",
    "talk_secs": "40",
    "voicemail_secs": "15",
    "send_audio": "false",
    "seed": "5",
}


def contacts_csv(path: Path) -> Path:
    """300 contacts; every tenth shares its number with the next one (same household)."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["external_id", "phone_number", "timezone", "customer_name"])
        for i in range(CONTACTS):
            number = i - 1 if i % 10 == 1 else i
            writer.writerow([f"r-{i:04d}", f"+1212736{number:04d}", "America/New_York", f"C {i}"])
    return path


def make_stack(workdir: Path, **sandbox: str) -> LocalStack:
    stack = LocalStack(workdir=workdir, sandbox_options={**SANDBOX, **sandbox}, config_toml=CONFIG)
    stack.pin_calendar(OPEN_AT)
    return stack


async def run_campaign(
    stack: LocalStack, *, timeout: float, meddle: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Import, wait for every contact to be final (meddling meanwhile), gather the evidence."""
    settings = load_settings(
        stack.workdir / "orchestrator.toml",
        database_url=stack.database_url,
        redis_url=stack.redis_url or "",
        _env_file=None,
    )
    db = Database(settings.database_url)
    try:
        await import_csv(
            db, settings, contacts_csv(stack.workdir / "contacts.csv"), CAMPAIGN, create=True
        )
        meddler = asyncio.create_task(asyncio.to_thread(meddle)) if meddle else None
        deadline = time.monotonic() + timeout
        while True:
            report = await campaign_report(db, CAMPAIGN)
            if report.all_final or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        if meddler is not None:
            await meddler
        for _ in range(40):  # the sandbox's last webhooks and call ends
            summary = stack.sandbox_get("/sandbox/summary").json()
            if summary["live"] == 0:
                break
            await asyncio.sleep(0.25)
        dials = stack.sandbox_get("/sandbox/dials").json()["dials"]
        async with db.read() as s:
            recorded = (
                await s.exec(
                    select(func.count())
                    .select_from(Attempt)
                    .where(col(Attempt.conversation_id).is_not(None))
                )
            ).one()
        return {
            "report": report,
            "summary": summary,
            "check": await dial_check(db, dials),
            "recorded": int(recorded),
        }
    finally:
        await db.dispose()


def assert_exactly_once(result: dict[str, Any]) -> None:
    report, summary, check = result["report"], result["summary"], result["check"]
    assert report.contacts == CONTACTS
    assert report.all_final, report.dispositions
    assert check["dials"] > 0
    assert check["duplicate_dials"] == 0
    assert check["unmatched_dials"] == 0
    assert check["distinct_attempts_dialled"] == check["dials"] == result["recorded"]
    assert summary["max_live_per_number"] == 1
    assert summary["overlapping_number_dials"] == 0
    assert summary["rejected_concurrency"] == 0


def test_three_kill_nines_lose_nothing_and_dial_nobody_twice(tmp_path: Path) -> None:
    rng = random.Random(20251121)
    kills: list[float] = []
    with make_stack(tmp_path) as stack:
        stack.start()

        def kill_workers() -> None:
            started = time.monotonic()
            for _ in range(3):
                time.sleep(rng.uniform(2.0, 6.0))
                worker = next(p for p in stack.processes if p.name.startswith("worker"))
                stack.stop_process(worker, kill=True)
                kills.append(time.monotonic() - started)
                stack.start_worker()

        result = asyncio.run(run_campaign(stack, timeout=110, meddle=kill_workers))
    assert len(kills) == 3
    assert_exactly_once(result)


def test_timeouts_5xx_and_429s_never_double_dial(tmp_path: Path) -> None:
    with make_stack(
        tmp_path,
        timeout_after_place_rate="0.05",
        timeout_after_place_secs="5",
        http_5xx_rate="0.05",
        http_429_rate="0.05",
    ) as stack:
        stack.start()
        result = asyncio.run(run_campaign(stack, timeout=110))
    assert_exactly_once(result)
    summary = result["summary"]
    # The faults really happened.
    assert summary["timeouts_after_place"] > 0
    assert summary["injected_5xx"] > 0
    assert summary["rejected_busy"] > 0
