"""The sandbox's process state: one `Sandbox` per app, holding the book, simulator and deliverer.

Kept apart from the routes so tests and the server can reach it (`app.state.sandbox`) and so a
reset swaps the whole memory at once.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from orchestrator.dev.sandbox.calls import CallBook
from orchestrator.dev.sandbox.config import SandboxConfig
from orchestrator.dev.sandbox.delivery import Deliverer, WebhookStats
from orchestrator.dev.sandbox.inbound import InboundStats
from orchestrator.dev.sandbox.simulator import Simulator
from orchestrator.dev.sandbox.twilio import TwilioSide


def _rng(seed: int | None, stream: str) -> random.Random:
    # Separate streams so HTTP faults do not shift webhook faults (or call outcomes).
    return random.Random() if seed is None else random.Random(f"{seed}:{stream}")


class Sandbox:
    """Everything one running sandbox knows; `reset()` forgets it all."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._faults = _rng(config.seed, "http")
        self.deliverer = Deliverer(config, _rng(config.seed, "webhooks"))
        #: Set on shutdown so requests held open on purpose (timeout faults) let go.
        self.closing = asyncio.Event()
        self.book = CallBook(config)
        self.twilio = TwilioSide(config)
        self.simulator = Simulator(config, self.book, self.deliverer, self.twilio)
        self.inbound = InboundStats()

    def reset(self) -> None:
        """Stop every call and delivery and start from an empty log."""
        self.simulator.cancel()
        self.deliverer.cancel()
        self.deliverer.stats = WebhookStats()
        self._faults = _rng(self.config.seed, "http")
        self.book = CallBook(self.config)
        self.simulator = Simulator(self.config, self.book, self.deliverer, self.twilio)
        self.inbound = InboundStats()

    def roll(self, rate: float) -> bool:
        """True with probability `rate` (never draws when the fault is off)."""
        return rate > 0 and self._faults.random() < rate

    def summary(self) -> dict[str, Any]:
        """`GET /sandbox/summary`: the book's counters plus the webhook counters.

        `settled` is true once no call is still simulating (ringing, talking or processing) and
        no webhook is queued or in flight: the moment a test or benchmark can read final numbers.
        """
        webhooks = {**self.deliverer.stats.as_dict(), "pending": self.deliverer.pending}
        settled = self.simulator.running == 0 and self.deliverer.pending == 0
        return {
            **self.book.summary(),
            "webhooks": webhooks,
            "inbound": self.inbound.as_dict(),
            "settled": settled,
        }

    async def aclose(self) -> None:
        """Stop calls and deliveries and wait for their tasks (app shutdown)."""
        self.closing.set()
        await self.simulator.aclose()
        await self.deliverer.aclose()
        await self.twilio.aclose()
