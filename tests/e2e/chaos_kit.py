"""What the chaos tests share: a campaign on LocalStack, a fault injected while it runs, evidence.

`WebhookTap` sits between the sandbox and the web app: it forwards every webhook delivery and
records what the web app answered, so a test knows exactly which deliveries were *accepted*
(answered 2xx, with the stored event's id) and can prove each of them was stored and applied.
A delivery the web app could not answer (killed, Redis down, disk full) is answered 502 to the
sandbox, which retries it like the provider does (`webhook_retry`).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from redis import Redis
from sqlmodel import col, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.dev.demo import DEMO_CLOCK_RATE, DEMO_CLOCK_START, DEMO_TOML, run_campaign
from orchestrator.dev.demo import sample_csv as demo_csv
from orchestrator.dev.sandbox.audio import fake_mp3
from orchestrator.dev.stack import LocalStack
from orchestrator.domain.attempt import LIVE, TERMINAL
from orchestrator.domain.signing import HEADER
from orchestrator.keys import event_job_id
from orchestrator.settings import load_settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Outcome, WebhookEvent
from tests.support.ports import free_port

#: Seconds without news before a live call is polled: lost webhooks are made up for quickly.
POLL_AFTER = 2.0
#: Seconds after which a recording whose webhook never came (or was refused) is fetched.
AUDIO_GRACE = 3.0
#: The sandbox's options common to every chaos run (50× compressed calls, retried webhooks).
SANDBOX = {"concurrency": "20", "time_scale": "0.02", "webhook_retry": "true"}


def chaos_toml() -> str:
    """The demo's configuration with quick polling, reconciliation and recording fetches."""
    base = DEMO_TOML.replace("poll_after_secs = 4\n", "").replace("unknown_grace_secs = 8\n", "")
    # Top-level keys must come before the first [table] of the demo's file.
    # stale_queued_secs: a dial job held by a worker that died is handed back after 10 s, not
    # a minute (arq itself would keep that job locked for its whole timeout).
    return (
        f"poll_after_secs = {POLL_AFTER}\nunknown_grace_secs = 4\nstale_queued_secs = 10\n"
        f"audio_grace_secs = {AUDIO_GRACE}\n{base}"
    )


def write_contacts(path: Path, count: int, prefix: str = "chaos") -> Path:
    """`count` contacts from the bundled sample (repeated, with fresh ids, past its 200 rows)."""
    with demo_csv().open() as src:
        rows = list(csv.DictReader(src))
    picked = [{**rows[i % len(rows)], "external_id": f"{prefix}-{i:04d}"} for i in range(count)]
    with path.open("w", newline="") as dst:
        writer = csv.DictWriter(dst, fieldnames=list(picked[0]))
        writer.writeheader()
        writer.writerows(picked)
    return path


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery as the tap saw it; `status` 0 means no answer at all."""

    event_type: str
    conversation_id: str | None
    status: int
    event_id: int | None
    error: str | None


@dataclass
class WebhookTap:
    """A recording proxy for webhooks, served by uvicorn on a thread of the test process."""

    target: str
    port: int = field(default_factory=free_port)
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/hook", self._forward, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", ws="none"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="webhook-tap", daemon=True)

    @property
    def url(self) -> str:
        """Where the sandbox should post."""
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        """Serve until `stop`."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the webhook tap did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop serving."""
        self._server.should_exit = True
        self._thread.join(10)

    def snapshot(self) -> list[Delivery]:
        """Every delivery so far."""
        with self._lock:
            return list(self.deliveries)

    def count(self, predicate: Callable[[Delivery], bool]) -> int:
        """How many deliveries so far match."""
        return sum(1 for d in self.snapshot() if predicate(d))

    async def _forward(self, request: Request) -> Response:
        body = await request.body()
        try:
            data = orjson.loads(body)
            event_type = str(data.get("type"))
            conversation_id = (data.get("data") or {}).get("conversation_id")
        except orjson.JSONDecodeError:
            event_type, conversation_id = "?", None
        headers = {"content-type": "application/json"}
        if HEADER in request.headers:
            headers[HEADER] = request.headers[HEADER]
        status, event_id, error = 0, None, None
        try:
            async with httpx.AsyncClient(timeout=30.0) as client:
                answer = await client.post(self.target, content=_chunks(body), headers=headers)
            status = answer.status_code
            reply = answer.json() if answer.content else {}
            event_id = reply.get("event_id") if answer.is_success else None
            error = None if answer.is_success else str(reply.get("error"))
        except (httpx.HTTPError, ValueError) as exc:
            error = type(exc).__name__
        with self._lock:
            self.deliveries.append(Delivery(event_type, conversation_id, status, event_id, error))
        if status == 0:
            return JSONResponse({"error": "upstream_unreachable"}, status_code=502)
        return Response(b"", status_code=status)


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    # Chunked like the provider's audio bodies, so the web app streams them to storage.
    for start in range(0, len(body), 16 * 1024):
        yield body[start : start + 16 * 1024]


@dataclass
class Evidence:
    """Everything a chaos test asserts on, gathered after the campaign ended."""

    result: Any
    summary: dict[str, Any]
    deliveries: list[Delivery]
    attempts: list[Attempt]
    outcomes: list[Outcome]
    events: list[WebhookEvent]
    held_slots: dict[str, int]
    #: arq job ids still in the queue (waiting, or to be re-run after a worker died)
    queued_jobs: set[str]
    notes: dict[str, Any]


def make_stack(workdir: Path, tap: WebhookTap, **kwargs: Any) -> LocalStack:
    """A LocalStack whose webhooks go through `tap`, on the demo's calendar."""
    options = {**SANDBOX, **kwargs.pop("sandbox_options", {})}
    stack = LocalStack(
        workdir=workdir,
        sandbox_options=options,
        config_toml=chaos_toml(),
        webhook_url=tap.url,
        **kwargs,
    )
    tap.target = f"{stack.web_url}/webhooks/elevenlabs/post-call"
    stack.pin_calendar(DEMO_CLOCK_START, DEMO_CLOCK_RATE)
    return stack


async def run_with_fault(
    stack: LocalStack,
    contacts: Path,
    fault: Callable[[], Awaitable[dict[str, Any]]],
    *,
    timeout: float = 150.0,
) -> tuple[Any, dict[str, Any]]:
    """Run the campaign and, concurrently, `fault` (which waits for its moment itself).

    Meanwhile a worker process that exits is started again, as a platform restarts a crashed
    dyno; `notes["worker_restarts"]` names each one, so a test can require that none was needed.
    """
    campaign = asyncio.create_task(run_campaign(stack, contacts, console=None, timeout=timeout))
    restarts: list[str] = []
    supervisor = asyncio.create_task(_supervise_workers(stack, restarts))
    try:
        notes = await fault()
        result = await campaign
    finally:
        supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
    return result, {**notes, "worker_restarts": restarts}


async def _supervise_workers(stack: LocalStack, restarts: list[str]) -> None:
    while True:
        for proc in list(stack.processes):
            if proc.name.startswith("worker") and proc.popen.poll() is not None:
                stack.processes.remove(proc)
                restarts.append(proc.name)
                await asyncio.to_thread(stack.start_worker, proc.name)
        await asyncio.sleep(0.5)


async def wait_for(
    predicate: Callable[[], bool], what: str, *, timeout: float = 60.0, step: float = 0.05
) -> None:
    """Wait (without blocking the loop) until `predicate` holds; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(step)


def sandbox_dials(stack: LocalStack) -> int:
    """Dials the sandbox has accepted so far."""
    return int(stack.sandbox_get("/sandbox/summary").json()["dials"])


async def recordings_settled(url: str) -> bool:
    """True when every outcome the provider says has audio points at a stored recording."""
    db = Database(url)
    try:
        async with db.read() as s:
            waiting = (
                await s.exec(
                    select(Outcome.id).where(
                        col(Outcome.has_audio).is_(True), col(Outcome.audio_path).is_(None)
                    )
                )
            ).all()
        return not waiting
    finally:
        await db.dispose()


def gather(stack: LocalStack, tap: WebhookTap, result: Any, notes: dict[str, Any]) -> Evidence:
    """Read the sandbox, Redis and the database once the campaign is over.

    Recordings refused or lost during the fault are fetched after `AUDIO_GRACE`: wait for that
    (bounded) first, so the evidence shows whether they all arrived.
    """
    deadline = time.monotonic() + 60
    while not asyncio.run(recordings_settled(stack.database_url)):
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    summary = stack.sandbox_get("/sandbox/summary").json()
    assert stack.redis_url is not None
    redis = Redis.from_url(stack.redis_url)
    queue = load_settings(stack.workdir / "orchestrator.toml", _env_file=None).queue_name
    try:
        keys = [k for k in redis.keys("orch:slots:*") if redis.type(k) == b"zset"]
        held = {k.decode(): int(redis.zcard(k)) for k in keys}
        queued = {m.decode() for m in redis.zrange(queue, 0, -1)}
    finally:
        redis.close()
    attempts, outcomes, events = asyncio.run(read_rows(stack.database_url))
    return Evidence(
        result, summary, tap.snapshot(), attempts, outcomes, events, held, queued, notes
    )


async def read_rows(url: str) -> tuple[list[Attempt], list[Outcome], list[WebhookEvent]]:
    """Every attempt, outcome and stored webhook event."""
    db = Database(url)
    try:
        async with db.read() as s:
            attempts = list((await s.exec(select(Attempt).order_by(col(Attempt.id)))).all())
            outcomes = list((await s.exec(select(Outcome))).all())
            events = list((await s.exec(select(WebhookEvent))).all())
        return attempts, outcomes, events
    finally:
        await db.dispose()


# ---- the guarantees every chaos run must keep --------------------------------------------------
def assert_every_contact_final(ev: Evidence) -> None:
    """The campaign ended: no contact pending or in progress."""
    report = ev.result.report
    assert report.all_final, (report.contacts_final, report.contacts)
    assert report.contacts_final == report.contacts > 0


def assert_nobody_dialled_twice(ev: Evidence) -> None:
    """One dial per attempt, every dial ours, never two live calls to one number."""
    check = ev.result.dial_check
    assert check["dials"] > 0
    assert check["duplicate_dials"] == 0, check
    assert check["unmatched_dials"] == 0, check
    assert ev.summary["max_live_per_number"] == 1
    assert ev.summary["overlapping_number_dials"] == 0


def assert_nothing_accepted_lost(ev: Evidence) -> None:
    """Every delivery answered 2xx is a stored event whose content was applied, or whose
    processing job is still queued in Redis (it will run: arq re-runs a job whose worker died
    once its in-progress mark expires).

    Processing is keyed by (type, conversation): a redelivery is stored as its own row but
    shares the first copy's job, so a row counts as applied when any row of its key was.
    """
    accepted = [d for d in ev.deliveries if 200 <= d.status < 300]
    assert accepted, "no webhook was accepted at all"
    stored = {e.id: e for e in ev.events}
    missing = [d for d in accepted if d.event_id not in stored]
    assert missing == [], missing
    applied = {
        event_job_id(e.event_type, e.conversation_id, e.id or 0)
        for e in ev.events
        if e.status == "processed"
    }
    attempts = {a.conversation_id: a for a in ev.attempts if a.conversation_id}
    outcomes = {o.attempt_id: o for o in ev.outcomes}
    lost = []
    for d in accepted:
        event = stored[d.event_id]
        job = event_job_id(event.event_type, event.conversation_id, event.id or 0)
        if job in applied or job in ev.queued_jobs:
            continue
        # An event that came before its call's conversation id was recorded (the dialing
        # worker died between the POST and its commit) stays unmatched; the reconciler adopts
        # the call later and polling brings the same facts, the recording fetcher the audio.
        attempt = attempts.get(event.conversation_id)
        outcome = outcomes.get(attempt.id or 0) if attempt is not None else None
        covered = (
            event.status == "unmatched"
            and attempt is not None
            and attempt.state in TERMINAL
            and outcome is not None
            and (event.event_type != "post_call_audio" or outcome.audio_path is not None)
        )
        if not covered:
            lost.append((job, event.status))
    assert lost == [], lost


def assert_every_call_has_its_outcome(ev: Evidence) -> None:
    """Each dialled attempt is terminal with exactly one outcome row."""
    dialled = {a.id for a in ev.attempts if a.conversation_id}
    per_attempt: dict[int, int] = {}
    for outcome in ev.outcomes:
        per_attempt[outcome.attempt_id] = per_attempt.get(outcome.attempt_id, 0) + 1
    assert set(per_attempt) == dialled, set(per_attempt) ^ dialled
    assert set(per_attempt.values()) == {1}, per_attempt
    unsettled = [
        (a.id, a.state) for a in ev.attempts if a.id in dialled and a.state not in TERMINAL
    ]
    assert unsettled == [], unsettled
    live = [(a.id, a.state) for a in ev.attempts if a.state in LIVE]
    assert live == [], live


def assert_no_slot_held(ev: Evidence) -> None:
    """Every lease was released once its call ended."""
    assert ev.held_slots == dict.fromkeys(ev.held_slots, 0), ev.held_slots


def assert_every_recording_stored(ev: Evidence, audio_bytes: int = 32 * 1024) -> None:
    """Each call with audio has its recording, whole and exactly the provider's bytes."""
    with_audio = [o for o in ev.outcomes if o.has_audio]
    assert with_audio, "no call had a recording"
    wrong = []
    for outcome in with_audio:
        path = Path(outcome.audio_path) if outcome.audio_path else None
        expected = fake_mp3(outcome.conversation_id or "", audio_bytes)
        if path is None or not path.is_file() or path.read_bytes() != expected:
            wrong.append((outcome.conversation_id, outcome.audio_path))
    assert wrong == [], wrong
