"""Webhooks lost, duplicated and reordered: polling makes every attempt final, once.

The sandbox drops 30% of webhooks, duplicates 10% and delays the rest at random (so they arrive
out of order). Every attempt must be final within two poll intervals of its call's end, with one
outcome per attempt, one retry at most per ended attempt, and no slot left held.
"""

from __future__ import annotations

import asyncio
import csv
import re
import time
from collections import Counter
from typing import Any

import pytest
from redis import Redis
from sqlmodel import col, select

from orchestrator.dev.demo import (
    DEMO_CLOCK_RATE,
    DEMO_CLOCK_START,
    DEMO_TOML,
    run_campaign,
    sample_csv,
)
from orchestrator.dev.stack import LocalStack
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Outcome

pytestmark = pytest.mark.e2e

POLL_AFTER = 3.0  # seconds without news before a live call is polled
CONTACTS = 80


@pytest.fixture(scope="module")
def lossy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("lossy")
    contacts = folder / "contacts.csv"
    with sample_csv().open() as src, contacts.open("w", newline="") as dst:
        rows = list(csv.DictReader(src))[:CONTACTS]
        writer = csv.DictWriter(dst, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    stack = LocalStack(
        workdir=folder / "stack",
        sandbox_options={
            "concurrency": "20",
            "time_scale": "0.02",
            "seed": "11",
            "webhook_drop_rate": "0.3",
            "webhook_duplicate_rate": "0.1",
            "webhook_delay_secs": "1.0",
        },
        config_toml=re.sub(
            r"(?m)^poll_after_secs = .*$", f"poll_after_secs = {POLL_AFTER}", DEMO_TOML
        ),
    )
    # The demo's calendar, so calling windows are open whatever the hour of the run.
    stack.pin_calendar(DEMO_CLOCK_START, DEMO_CLOCK_RATE)
    try:
        stack.start()
        result = asyncio.run(run_campaign(stack, contacts, console=None, timeout=150))
        time.sleep(0.5)
        dials = stack.sandbox_get("/sandbox/dials").json()["dials"]
        summary = stack.sandbox_get("/sandbox/summary").json()
        assert stack.redis_url is not None
        redis = Redis.from_url(stack.redis_url)
        slot_keys = [k.decode() for k in redis.keys("orch:slots:*") if redis.type(k) == b"zset"]
        held = {k: redis.zcard(k) for k in slot_keys}
        redis.close()
        attempts, outcomes = asyncio.run(_rows(stack.database_url))
    finally:
        stack.stop()
    return {
        "result": result,
        "dials": dials,
        "summary": summary,
        "held": held,
        "attempts": attempts,
        "outcomes": outcomes,
    }


async def _rows(url: str) -> tuple[list[Attempt], list[Outcome]]:
    db = Database(url)
    try:
        async with db.read() as s:
            attempts = list((await s.exec(select(Attempt).order_by(col(Attempt.id)))).all())
            outcomes = list((await s.exec(select(Outcome))).all())
        return attempts, outcomes
    finally:
        await db.dispose()


def test_faults_really_happened(lossy: dict[str, Any]) -> None:
    webhooks = lossy["summary"]["webhooks"]
    assert webhooks["dropped"] > 0
    assert webhooks["duplicated"] > 0


def test_every_contact_final_and_no_double_dial(lossy: dict[str, Any]) -> None:
    result = lossy["result"]
    assert result.report.all_final
    assert result.dial_check["duplicate_dials"] == 0
    assert result.dial_check["unmatched_dials"] == 0
    assert lossy["summary"]["max_live_per_number"] == 1


def test_every_attempt_final_within_two_poll_intervals(lossy: dict[str, Any]) -> None:
    ended = {d["conversation_id"]: d["ended_at"] for d in lossy["dials"]}
    late = []
    for attempt in lossy["attempts"]:
        if attempt.conversation_id is None:
            continue
        assert attempt.ended_at is not None, attempt
        lag = attempt.ended_at.timestamp() - ended[attempt.conversation_id]
        if lag > 2 * POLL_AFTER:
            late.append((attempt.id, round(lag, 2)))
    assert late == []


def test_one_outcome_and_at_most_one_retry_per_attempt(lossy: dict[str, Any]) -> None:
    outcomes = Counter(o.attempt_id for o in lossy["outcomes"])
    assert all(count == 1 for count in outcomes.values())
    dialled = [a for a in lossy["attempts"] if a.conversation_id]
    assert set(outcomes) == {a.id for a in dialled}
    per_contact = Counter(a.contact_id for a in lossy["attempts"])
    seqs = Counter((a.contact_id, a.seq) for a in lossy["attempts"])
    assert max(per_contact.values()) <= 3
    assert all(count == 1 for count in seqs.values())


def test_no_slot_is_left_held(lossy: dict[str, Any]) -> None:
    assert lossy["held"] == {k: 0 for k in lossy["held"]}
