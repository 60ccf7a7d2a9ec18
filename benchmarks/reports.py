"""Report speed: the full report over 1,000,000 attempts on SQLite.

A temporary database is created by the migrations (indexes and triggers included), then filled
with sqlite3 `executemany`: one campaign of 400,000 contacts and 1,000,000 attempts over ten
days (a realistic mix of outcomes: conversations with three data-collection items and two
evaluation criteria, voicemails, no-answers, burst calls), plus a small second campaign. The
figures: the campaign report, and the report across campaigns for a three-day range, each the
best of three runs of `build_report` (every aggregate, through `Database.read()`).
The range report's aggregates each filter by `attempt_id IN (attempts dialled in the range)`;
materialising that set once per report would bring it near the campaign report's time.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks import Figure
from orchestrator.reports.build import ReportConfig, build_report
from orchestrator.reports.pricing import Price
from orchestrator.reports.scope import make_scope
from orchestrator.store.engine import Database
from orchestrator.store.migrate import upgrade

ATTEMPTS = 1_000_000
CONTACTS = 400_000
TARGET_SECS = 2.0
START = datetime(2025, 3, 3, 13, 0, tzinfo=UTC)
_FMT = "%Y-%m-%d %H:%M:%S.%f"
#: Attempt states and their weights (a campaign in full swing: some still scheduled or live).
_STATES = (
    ("completed", 34),
    ("voicemail", 14),
    ("no_answer", 24),
    ("busy", 7),
    ("failed", 4),
    ("canceled", 3),
    ("scheduled", 12),
    ("in_progress", 2),
)


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).strftime(_FMT)


def _fill(path: Path, seed: int = 7) -> None:
    """Write the benchmark's rows straight through sqlite3 (the migrations made the schema)."""
    rnd = random.Random(seed)
    conn = sqlite3.connect(path)
    # A scratch database: no journal, no syncs, every index page kept in memory while filling.
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-2000000")
    now = _ts(START)
    conn.executemany(
        "INSERT INTO campaign (id, name, agent_id, phone_number_id, phone_number_kind, status, "
        "weight, config, created_at, updated_at) VALUES (?, ?, 'agent', 'phnum', 'twilio', "
        "'active', 1, '{}', ?, ?)",
        [(1, "bench", now, now), (2, "other", now, now)],
    )
    states = [s for s, w in _STATES for _ in range(w)]
    contacts: list[tuple[Any, ...]] = []
    attempts: list[tuple[Any, ...]] = []
    outcomes: list[tuple[Any, ...]] = []
    per_contact = ATTEMPTS / CONTACTS
    attempt_id = 0
    for contact_id in range(1, CONTACTS + 1):
        campaign = 2 if contact_id % 100 == 0 else 1
        count = max(1, round(rnd.uniform(0.4, 2 * per_contact - 0.4)))
        last = "pending"
        for seq in range(1, count + 1):
            if attempt_id >= ATTEMPTS:
                break
            attempt_id += 1
            state = rnd.choice(states)
            last = state
            started = START + timedelta(seconds=attempt_id * 0.86 + rnd.random())
            dialled = state not in ("scheduled", "canceled")
            secs = rnd.uniform(20, 400) if state in ("completed", "voicemail") else 30.0
            ended = (
                _ts(started + timedelta(seconds=secs))
                if dialled and state != "in_progress"
                else None
            )
            attempts.append(
                (
                    attempt_id,
                    campaign,
                    contact_id,
                    seq,
                    f"+1415{contact_id:07d}",
                    state,
                    now,
                    _ts(started) if dialled else None,
                    ended,
                    rnd.random() < 0.05,
                    (started.hour - 5) % 24 if dialled else None,
                    "{}",
                    0,
                    now,
                    now,
                )
            )
            if dialled and state != "in_progress":
                outcomes.append(_outcome(rnd, attempt_id, campaign, state, secs, now))
        disposition = {
            "completed": "reached",
            "voicemail": "voicemail",
            "scheduled": "pending",
            "in_progress": "in_progress",
            "canceled": "canceled",
        }.get(last, "unreachable")
        contacts.append(
            (
                contact_id,
                campaign,
                f"crm-{contact_id}",
                f"+1415{contact_id:07d}",
                disposition,
                rnd.choice(("success", "failure")) if disposition == "reached" else None,
                count,
                "{}",
                "{}",
                0,
                now,
                now,
            )
        )
    conn.executemany(
        "INSERT INTO contact (id, campaign_id, external_id, phone_number, disposition, "
        "disposition_detail, attempts_made, variables, overrides, transferred, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        contacts,
    )
    conn.executemany(
        "INSERT INTO attempt (id, campaign_id, contact_id, seq, phone_number, state, due_at, "
        "dial_started_at, ended_at, is_burst, local_hour, call_data, retry_planned, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        attempts,
    )
    conn.executemany(
        "INSERT INTO outcome (attempt_id, campaign_id, state, call_successful, transcript_summary, "
        "duration_secs, cost_credits, cost_fiat, is_burst, transferred, opted_out, has_audio, "
        "data_collection, evaluation, sources, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, '{}', ?, ?)",
        outcomes,
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def _outcome(
    rnd: random.Random, attempt_id: int, campaign: int, state: str, secs: float, now: str
) -> tuple[Any, ...]:
    burst = rnd.random() < 0.05
    talked = state == "completed"
    data: dict[str, Any] = {}
    evaluation: dict[str, Any] = {}
    if talked:
        data = {
            "interest": rnd.choice(("high", "medium", "low", "none")),
            "opt_out": rnd.random() < 0.03,
            "budget": round(rnd.uniform(10, 900), 2),
        }
        evaluation = {
            "greeting": rnd.choice(("success", "success", "failure")),
            "resolved": rnd.choice(("success", "failure", "unknown")),
        }
    credits = (
        round(secs / 60 * 400 * (2 if burst else 1))
        if state in ("completed", "voicemail")
        else None
    )
    return (
        attempt_id,
        campaign,
        state,
        rnd.choice(("success", "failure")) if talked else None,
        "The customer asked about the offer and wants a call back next week." if talked else None,
        secs if credits else None,
        credits,
        round(credits * 0.0002, 4) if credits and rnd.random() < 0.3 else None,
        burst,
        talked and rnd.random() < 0.04,
        talked and data["opt_out"],
        json.dumps(data),
        json.dumps(evaluation),
        now,
        now,
    )


async def _time(
    db: Database, campaign: str | None, since: str | None, until: str | None
) -> tuple[float, int]:
    config = ReportConfig(price=Price("creator", usd_per_credit=0.00022), limit=20, burst_cap=60)
    best = float("inf")
    attempts = 0
    for _ in range(3):
        started = time.perf_counter()
        report = await build_report(db, make_scope(campaign, since, until), config)
        best = min(best, time.perf_counter() - started)
        attempts = report.attempts
    return best, attempts


def run() -> list[Figure]:
    """Fill a database, time the reports."""
    with tempfile.TemporaryDirectory(prefix="orchestrator-bench-reports-") as tmp:
        path = Path(tmp) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        asyncio.run(upgrade(url))
        started = time.perf_counter()
        _fill(path)
        print(
            f"   filled {ATTEMPTS:,} attempts in {time.perf_counter() - started:.1f} s", flush=True
        )

        async def measure() -> list[Figure]:
            db = Database(url)
            try:
                one, count = await _time(db, "bench", None, None)
                ranged, ranged_count = await _time(db, None, "2025-03-05", "2025-03-07")
            finally:
                await db.dispose()
            return [
                Figure(
                    f"campaign report over {count:,} attempts",
                    one,
                    "s",
                    f"≤ {TARGET_SECS:g} s",
                    one <= TARGET_SECS,
                ),
                # Not the target (that is the campaign report's above), so it has none:
                # every aggregate of a range report re-selects the range's attempts (see the
                # module docstring); printed so a slowdown shows.
                Figure(
                    f"all campaigns, 3-day range ({ranged_count:,} attempts)",
                    ranged,
                    "s",
                    "(information)",
                    True,
                ),
            ]

        return asyncio.run(measure())
