"""`inbound_reserve`: outbound calls never take the last R slots, so inbound calls still fit.

Issue 13, finding 11. The provider counts inbound and outbound calls against one workspace limit
(reference §5), and so does the sandbox. Here the sandbox's limit is L and ours is L with a reserve
of R; a campaign with a large backlog runs through the real worker (dispatcher and dial jobs), the
web app (post-call webhooks free the slots) and the sandbox, all in this process on a real
redis-server. At the outbound peak, R inbound calls ring in and stay live while dialing goes on.
A control run without the reserve shows the same inbound calls do not fit then.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func
from sqlmodel import col, select

import jobs.worker
from jobs.worker import OrchestratorWorker, worker_options
from orchestrator.dev.sandbox.config import SandboxConfig
from orchestrator.dev.sandbox.server import RunningSandbox, running, running_app
from orchestrator.domain.attempt import TERMINAL
from orchestrator.limiter.scopes import account_scope
from orchestrator.limiter.slots import SlotLimiter
from orchestrator.personalization.request import SANDBOX_PERSONALIZATION_SECRET
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt
from orchestrator.web.app import create_app
from tests.support.factories import make_campaign, make_contact
from tests.support.ports import free_port

LIMIT = 6
RESERVE = 2
CONTACTS = 40
ZONE = "America/New_York"
#: A Tuesday, 14:00 in New York: the contacts' windows are open whatever the real time.
OPEN_HOURS = datetime.fromisoformat("2025-03-04T19:00:00+00:00")
#: Every call answered; a 5 s ring and a 30 s talk at 0.01 last about 0.35 s of wall time.
SANDBOX: dict[str, Any] = {
    "time_scale": 0.01,
    "ring_secs": 5,
    "talk_secs": 30,
    "jitter": 0.0,
    "processing_secs": 0.1,
    "success": 1.0,
    "failure": 0,
    "voicemail": 0,
    "no_answer": 0,
    "busy": 0,
    "failed": 0,
    "opt_out_rate": 0,
    "transfer_rate": 0,
    "send_audio": False,
}
#: Simulated seconds an inbound call stays live: 1 s of wall time, several outbound calls' worth.
INBOUND_TALK_SECS = 100


@dataclass
class Evidence:
    """What one run left: our limiter's samples, the provider's log and counters."""

    unfinished: int
    outbound_at_peak: int
    held: list[int]
    dials: list[dict[str, Any]]
    inbound: list[httpx.Response]
    summary: dict[str, Any]


@contextlib.asynccontextmanager
async def system(
    settings: Settings, redis_server: str, reserve: int
) -> AsyncIterator[tuple[RunningSandbox, Settings]]:
    """The sandbox (limit L), the web app and a worker (limit L, `reserve`), in this process."""
    web_port = free_port()
    web_url = f"http://127.0.0.1:{web_port}"
    config = SandboxConfig(
        port=0,
        seed=3,
        concurrency=LIMIT,
        webhook_url=f"{web_url}/webhooks/elevenlabs/post-call",
        personalization_url=f"{web_url}/webhooks/elevenlabs/personalization",
        personalization_headers={settings.personalization_header: SANDBOX_PERSONALIZATION_SECRET},
        **SANDBOX,
    )
    async with running(config) as sb:
        host, port = sb.base_url.removeprefix("http://").split(":")
        resolved = settings.model_copy(
            update={
                "redis_url": redis_server,
                "sandbox_host": host,
                "sandbox_port": int(port),
                "public_url": web_url,
                "clock_start": OPEN_HOURS,
                "concurrency_limit": LIMIT,
                "inbound_reserve": reserve,
                "calls_per_second": 1000.0,
                "max_call_secs": 30.0,
                "lease_margin_secs": 10.0,
            }
        )
        async with running_app(create_app(resolved), port=web_port):
            options = worker_options(resolved, dispatch_interval=0.05, poll_interval=1.0)
            worker = OrchestratorWorker(**{**options, "handle_signals": False})
            task = asyncio.create_task(worker.async_run())
            try:
                yield sb, resolved
            finally:
                await worker.close()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def unfinished(db: Database) -> int:
    async with db.read() as s:
        return int(
            (
                await s.exec(
                    select(func.count())
                    .select_from(Attempt)
                    .where(col(Attempt.state).not_in([st.value for st in TERMINAL]))
                )
            ).one()
        )


def most_at_once(dials: list[dict[str, Any]]) -> int:
    """The most outbound calls live at one instant, from the sandbox's dial log."""
    edges = sorted(
        [(d["started_at"], 1) for d in dials] + [(d["ended_at"], -1) for d in dials],
        key=lambda edge: (edge[0], edge[1]),  # an end and a start at one instant: end first
    )
    live = peak = 0
    for _, step in edges:
        live += step
        peak = max(peak, live)
    return peak


async def run(settings: Settings, db: Database, redis_server: str, reserve: int) -> Evidence:
    """Run the backlog with `reserve`; at the outbound peak, ring R inbound calls."""
    campaign = await make_campaign(db, "backlog")
    for i in range(CONTACTS):
        await make_contact(db, campaign, f"b{i}", f"+1212736{i:04d}", timezone=ZONE)
    redis = Redis.from_url(redis_server)
    held: list[int] = []
    try:
        async with system(settings, redis_server, reserve) as (sb, resolved):
            limiter, account, book = SlotLimiter(redis), account_scope(resolved), sb.sandbox.book
            stop = asyncio.Event()

            async def sample() -> None:
                while not stop.is_set():
                    held.append(await limiter.in_flight(account, now=time.time()))
                    await asyncio.sleep(0.005)

            sampler = asyncio.create_task(sample())
            for _ in range(1000):  # wait for the outbound peak: every slot we may use is taken
                if book.live - book.inbound_live >= LIMIT - reserve:
                    break
                await asyncio.sleep(0.005)
            at_peak = book.live - book.inbound_live
            async with httpx.AsyncClient(base_url=sb.base_url) as http:
                calls = [
                    {"agent_id": campaign.agent_id, "caller_id": f"+1212555{n:04d}"}
                    for n in range(RESERVE)
                ]
                inbound = await asyncio.gather(
                    *(
                        http.post("/sandbox/inbound", json={**c, "talk_secs": INBOUND_TALK_SECS})
                        for c in calls
                    )
                )
            for _ in range(2000):
                if await unfinished(db) == 0:
                    break
                await asyncio.sleep(0.01)
            stop.set()
            await sampler
            left = await unfinished(db)
            return Evidence(
                unfinished=left,
                outbound_at_peak=at_peak,
                held=held,
                dials=[c.dial() for c in book.calls],
                inbound=list(inbound),
                summary=sb.sandbox.summary(),
            )
    finally:
        await redis.aclose()


@pytest.fixture(autouse=True)
def _process_logging_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's start-up configures logging for its whole process; run in this one, that
    would bind every later test's logs to this test's captured stderr."""
    monkeypatch.setattr(jobs.worker, "configure_logging", lambda _settings: None)


async def test_outbound_calls_leave_the_reserve_to_inbound_calls(
    settings: Settings, db: Database, redis_server: str, real_redis: Redis
) -> None:
    seen = await run(settings, db, redis_server, RESERVE)

    assert seen.unfinished == 0
    assert seen.outbound_at_peak == LIMIT - RESERVE
    # (a) Our outbound calls never took more than L − R slots, by our count and the provider's.
    assert max(seen.held) == LIMIT - RESERVE
    assert most_at_once(seen.dials) == LIMIT - RESERVE
    # (b) The R inbound calls placed at the peak were all let in (and answered)…
    assert [answer.status_code for answer in seen.inbound] == [200] * RESERVE
    assert all(answer.json()["accepted"] for answer in seen.inbound)
    assert seen.summary["inbound"]["rejected_concurrency"] == 0
    # …and really held their slots beside ours: the provider saw its whole limit in use.
    assert seen.summary["peak_live"] == LIMIT
    # (c) No outbound call was refused for concurrency.
    assert seen.summary["rejected_concurrency"] == 0
    assert len(seen.dials) == CONTACTS


async def test_without_a_reserve_the_same_inbound_calls_do_not_fit(
    settings: Settings, db: Database, redis_server: str, real_redis: Redis
) -> None:
    # The control: outbound calls take all L slots, so an inbound call at the peak is refused
    # (or, if a call ended just then, takes a slot an outbound dial is then refused).
    seen = await run(settings, db, redis_server, 0)

    assert seen.unfinished == 0
    assert seen.outbound_at_peak == LIMIT
    refused = seen.summary["inbound"]["rejected_concurrency"] + seen.summary["rejected_concurrency"]
    assert refused > 0
