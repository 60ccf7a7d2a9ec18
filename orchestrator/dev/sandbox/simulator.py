"""Each placed call's life as one asyncio task: ring, talk (or fail), end, report.

Answered calls (`success`, `failure`, `voicemail`) go `initiated` → `in-progress` after the ring
→ `processing` when the talk ends (the live slot is freed here) → `done`, then send
`post_call_transcription` and, if enabled, `post_call_audio`. Calls that never connect
(`no_answer`, `busy`, `failed`) go `initiated` → `failed` after the ring and send
`call_initiation_failure`. Simulated seconds are what records report; the task sleeps
`simulated * time_scale` wall seconds.

An inbound call let in holds its live slot for its talk time (`hold_inbound`), with no record:
the sandbox only counts it against the concurrency limit.

Each call draws from its own generator, seeded from the sandbox seed and the dial id, so a seeded
run gives the Nth dial the same outcome and durations however the tasks interleave.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import time

from orchestrator.dev.sandbox.audio import fake_mp3
from orchestrator.dev.sandbox.calls import Call, CallBook, DialRequest, cost_credits
from orchestrator.dev.sandbox.config import ANSWERED, Outcome, SandboxConfig
from orchestrator.dev.sandbox.delivery import Deliverer
from orchestrator.dev.sandbox.script import answered_script, failure_error, initiation_failure
from orchestrator.dev.sandbox.twilio import TwilioSide

log = logging.getLogger(__name__)

#: Mean simulated ring before a busy signal or a carrier failure (seconds).
_BUSY_RING_SECS = 2.0
_FAILED_RING_SECS = 1.0


class Simulator:
    """Places calls in the book and runs each one's lifecycle task."""

    def __init__(
        self,
        config: SandboxConfig,
        book: CallBook,
        deliverer: Deliverer,
        twilio: TwilioSide | None = None,
    ) -> None:
        self._config = config
        self._book = book
        self._deliverer = deliverer
        self._twilio = twilio
        self._tasks: set[asyncio.Task[None]] = set()

    def _call_rng(self, dial_id: int) -> random.Random:
        if self._config.seed is None:
            return random.Random()
        return random.Random(f"{self._config.seed}:{dial_id}")

    def place(self, request: DialRequest) -> Call | str:
        """Admit and start a call, or why not (`CallBook.refusal`; the rejection is counted)."""
        now = time.time()
        refused = self._book.refusal(request, now)
        if refused is not None:
            return refused
        rng = self._call_rng(self._book.next_dial_id)
        weights = self._config.weights
        planned: Outcome = rng.choices(list(weights), weights=list(weights.values()))[0]
        call = self._book.admit(request, planned, now)
        if call is None:  # not reached: refusal() said yes, and nothing ran in between
            return "concurrency"
        task = asyncio.create_task(self._run(call, rng), name=f"sandbox-call-{call.dial_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return call

    def hold_inbound(self, simulated_secs: float) -> None:
        """Keep an inbound call (admitted by `CallBook.admit_inbound`) live, then free its slot."""
        task = asyncio.create_task(self._hold(simulated_secs), name="sandbox-inbound-call")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _hold(self, simulated_secs: float) -> None:
        try:
            await asyncio.sleep(self._config.wall(simulated_secs))
        finally:
            self._book.end_inbound()

    @property
    def running(self) -> int:
        """Lifecycle tasks not yet finished (a call in `processing` still has one)."""
        return len(self._tasks)

    def _jitter(self, mean: float, rng: random.Random) -> float:
        spread = self._config.jitter
        return max(0.0, mean * (1.0 + rng.uniform(-spread, spread)))

    async def _run(self, call: Call, rng: random.Random) -> None:
        try:
            if call.planned in ANSWERED:
                await self._answer(call, rng)
            else:
                await self._fail(call, rng)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug in one simulated call must not take the server down; free its slot.
            log.exception("sandbox call %s crashed", call.conversation_id)
            self._book.end(call, "failed", time.time())

    def _twilio_status(self, call: Call, status: str, **extra: str) -> None:
        if self._twilio is not None:
            self._twilio.status(call, status, **extra)

    async def _answer(self, call: Call, rng: random.Random) -> None:
        config = self._config
        self._twilio_status(call, "ringing")
        await asyncio.sleep(config.wall(self._jitter(config.ring_secs, rng)))
        call.status = "in-progress"
        call.accepted_at = time.time()
        # Answering-machine detection: a voicemail greeting is a machine, anything else a human.
        answered_by = "machine_end_beep" if call.planned == "voicemail" else "human"
        self._twilio_status(call, "in-progress", AnsweredBy=answered_by)
        mean = config.voicemail_secs if call.planned == "voicemail" else config.talk_secs
        duration = max(1, round(self._jitter(mean, rng)))
        await asyncio.sleep(config.wall(duration))

        script = answered_script(
            call,
            call.planned,
            duration,
            rng,
            transfer_rate=config.transfer_rate,
            opt_out_rate=config.opt_out_rate,
        )
        call.duration_secs = duration
        call.transcript = script.transcript
        call.termination_reason = script.termination_reason
        call.cost = cost_credits(duration, config.credits_per_minute, call.is_burst)
        if config.usd_per_credit is not None:
            call.cost_fiat = round(call.cost * config.usd_per_credit, 6)
        call.status = "processing"
        # The call is over for concurrency purposes before the provider finishes its analysis.
        self._book.end(call, call.planned, time.time())
        self._twilio_status(call, "completed", CallDuration=str(duration), AnsweredBy=answered_by)

        await asyncio.sleep(config.wall(config.processing_secs))
        call.analysis = script.analysis
        call.has_audio = True
        call.status = "done"
        self._deliverer.send("post_call_transcription", call.conversation())
        if config.send_audio:
            audio = fake_mp3(call.conversation_id, config.audio_bytes)
            data = {
                "agent_id": call.request.agent_id,
                "conversation_id": call.conversation_id,
                "full_audio": base64.b64encode(audio).decode(),
            }
            self._deliverer.send("post_call_audio", data, chunked=True)

    async def _fail(self, call: Call, rng: random.Random) -> None:
        config = self._config
        if call.planned == "no_answer":
            ring = call.request.ringing_timeout_secs or config.ring_timeout_secs
        elif call.planned == "busy":
            ring = self._jitter(_BUSY_RING_SECS, rng)
        else:
            ring = self._jitter(_FAILED_RING_SECS, rng)
        await asyncio.sleep(config.wall(ring))
        call.termination_reason, call.error = failure_error(call.planned)
        call.cost = 0
        if config.usd_per_credit is not None:
            call.cost_fiat = 0.0
        call.status = "failed"
        self._book.end(call, call.planned, time.time())
        if call.request.twilio_status_callback:
            # Placed through the caller's own Twilio: Twilio reports it; the provider never
            # saw the call connect, so it sends nothing.
            twilio_status = {"no_answer": "no-answer", "busy": "busy"}.get(call.planned, "failed")
            self._twilio_status(call, twilio_status, CallDuration="0")
            return
        self._deliverer.send("call_initiation_failure", initiation_failure(call, call.planned))

    def cancel(self) -> None:
        """Stop every running call (reset and shutdown); their records stay as they were."""
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()

    async def aclose(self) -> None:
        """Cancel running calls and wait for their tasks to unwind."""
        tasks = list(self._tasks)
        self.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
