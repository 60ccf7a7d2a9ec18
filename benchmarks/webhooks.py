"""Webhook intake under load: 5,000 signed `post_call_transcription` events of about 30 KB.

A real `orchestrator web` process (uvicorn, SQLite in WAL mode, a real redis-server) receives
them from a load generator over loopback while a real worker processes them. Each event belongs
to a live attempt, so "processed exactly once" is checked on the outcome: one per attempt, every
event marked processed, no retry planned twice.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert
from sqlmodel import col, select

from benchmarks import Figure
from benchmarks.loadgen import build_request, run_load
from orchestrator.dev.stack import LocalStack
from orchestrator.domain import signing
from orchestrator.settings import SANDBOX_WEBHOOK_SECRET
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Campaign, Contact, Outcome, WebhookEvent

EVENTS = 5_000
SATURATION_EVENTS = 3_000
CONCURRENCY = 32
TARGET_RATE = 500.0
TARGET_P99_MS = 50.0

CONFIG = """
poll_after_secs = 3600
[retry.delay_secs]
no_answer = 3600
"""


def _transcript(rng: random.Random, turns: int) -> list[dict[str, Any]]:
    words = ["renewal", "balance", "account", "thanks", "tomorrow", "payment", "plan", "yes"]
    return [
        {
            "role": "agent" if i % 2 == 0 else "user",
            "message": " ".join(rng.choice(words) for _ in range(rng.randint(20, 40))),
            "time_in_call_secs": i * 7,
            "tool_calls": [],
        }
        for i in range(turns)
    ]


def event_body(conversation_id: str, rng: random.Random) -> bytes:
    """A realistic transcription event of about 30 KB."""
    data = {
        "agent_id": "agent_sandbox",
        "conversation_id": conversation_id,
        "status": "done",
        "user_id": conversation_id.replace("conv_", "crm-"),
        "transcript": _transcript(rng, 110),
        "metadata": {
            "start_time_unix_secs": int(time.time()) - 120,
            "call_duration_secs": rng.randint(30, 300),
            "cost": rng.randint(200, 2000),
            "termination_reason": "end_call tool was called",
            "charging": {"is_burst": False, "tier": "pro"},
            "phone_call": {"type": "twilio", "direction": "outbound"},
        },
        "analysis": {
            "call_successful": rng.choice(["success", "failure"]),
            "transcript_summary": "The customer discussed their renewal and agreed to a follow up.",
            "data_collection_results": {
                "interested": {"data_collection_id": "interested", "value": True}
            },
            "evaluation_criteria_results": {
                "goal": {"criteria_id": "goal", "result": "success", "rationale": "ok"}
            },
        },
        "has_audio": False,
    }
    return json.dumps(
        {"type": "post_call_transcription", "event_timestamp": int(time.time()), "data": data}
    ).encode()


async def _seed(db: Database, count: int) -> list[str]:
    now = datetime.now(UTC)
    async with db.session() as s:
        campaign = Campaign(name="bench-webhooks", agent_id="agent_sandbox", phone_number_id="p")
        s.add(campaign)
        await s.flush()
        contacts: list[dict[str, Any]] = [
            {
                "campaign_id": campaign.id,
                "external_id": f"crm-{i}",
                "phone_number": f"+1415{5550000 + i:07d}",
                "variables": {},
                "disposition": "in_progress",
                "attempts_made": 1,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(count)
        ]
        ids = (await s.exec(insert(Contact).returning(col(Contact.id)), params=contacts)).all()
        attempts = [
            {
                "campaign_id": campaign.id,
                "contact_id": contact_id,
                "phone_number": contacts[i]["phone_number"],
                "state": "initiated",
                "conversation_id": f"conv_{i}",
                "call_data": {},
                "due_at": now,
                "created_at": now,
                "updated_at": now,
                "last_news_at": now,
            }
            for i, (contact_id,) in enumerate(ids)
        ]
        await s.exec(insert(Attempt), params=attempts)
    return [f"conv_{i}" for i in range(count)]


def _requests(url: str, bodies: list[bytes]) -> list[bytes]:
    """Signed raw requests; signed up front so signing is not charged to the server."""
    host = url.removeprefix("http://")
    now = int(time.time())
    return [
        build_request(
            host,
            "/webhooks/elevenlabs/post-call",
            body,
            {
                "Content-Type": "application/json",
                signing.HEADER: signing.sign(SANDBOX_WEBHOOK_SECRET, now, body),
            },
        )
        for body in bodies
    ]


async def _wait_processed(db: Database, count: int, timeout: float = 300) -> tuple[int, int, int]:
    deadline = time.monotonic() + timeout
    while True:
        async with db.session() as s:
            processed = (
                await s.exec(
                    select(func.count())
                    .select_from(WebhookEvent)
                    .where(WebhookEvent.status == "processed")
                )
            ).one()
            outcomes = (await s.exec(select(func.count()).select_from(Outcome))).one()
            final = (
                await s.exec(
                    select(func.count())
                    .select_from(Attempt)
                    .where(col(Attempt.state) == "completed")
                )
            ).one()
        if processed >= count or time.monotonic() > deadline:
            return int(processed), int(outcomes), int(final)
        await asyncio.sleep(1)


async def _run(stack: LocalStack) -> list[Figure]:
    db = Database(stack.database_url)
    try:
        conversations = await _seed(db, EVENTS + SATURATION_EVENTS)
        rng = random.Random(7)
        bodies = [event_body(c, rng) for c in conversations]
        size = statistics.mean(len(b) for b in bodies) / 1024
        requests = _requests(stack.web_url, bodies)
        # The target's load: a steady 500 events/s, latency measured from each send slot.
        steady = await run_load(
            stack.web_url,
            requests[:EVENTS],
            count=EVENTS,
            connections=CONCURRENCY,
            rate=TARGET_RATE,
        )
        # Then as fast as the server takes them, for its ceiling.
        ceiling = await run_load(
            stack.web_url,
            requests[EVENTS:],
            count=SATURATION_EVENTS,
            connections=CONCURRENCY,
        )
        total = EVENTS + SATURATION_EVENTS
        processed, outcomes, completed = await _wait_processed(db, total)
    finally:
        await db.dispose()
    errors = steady.errors + ceiling.errors
    exactly_once = processed == outcomes == completed == total and errors == 0
    print(
        f"   {EVENTS} events of {size:.1f} KB offered at {TARGET_RATE:.0f}/s on {CONCURRENCY} "
        f"connections, worker processing alongside: p50 {steady.percentile(50):.1f} ms; "
        f"ceiling {ceiling.rate:.0f}/s (p50 {ceiling.percentile(50):.1f} ms under saturation)"
    )
    return [
        Figure(
            "webhooks accepted per second (ceiling)",
            ceiling.rate,
            "events/s",
            f">= {TARGET_RATE:.0f}",
            ceiling.rate >= TARGET_RATE and ceiling.errors == 0,
        ),
        Figure(
            "webhook p99 latency at a steady 500/s",
            steady.percentile(99),
            "ms",
            f"<= {TARGET_P99_MS:.0f} (kept up: {steady.rate:.0f}/s)",
            steady.percentile(99) <= TARGET_P99_MS and steady.rate >= TARGET_RATE * 0.98,
        ),
        Figure(
            "events processed exactly once",
            float(outcomes),
            "outcomes",
            f"== {total} (processed {processed}, completed {completed}, errors {errors})",
            exactly_once,
        ),
    ]


def run() -> list[Figure]:
    """Start web + worker + redis on SQLite, fire the events, measure."""
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        stack = LocalStack(workdir=Path(tmp), config_toml=CONFIG)
        try:
            stack.start()
            return asyncio.run(_run(stack))
        finally:
            stack.stop()
