"""Signing and sending post-call webhooks, with the provider's failure modes on demand.

Each event is delivered by its own task so a slow or dead receiver never holds up a call. The
faults mirror what the reference says can happen to real deliveries: an event may be lost
(`webhook_drop_rate`), sent twice (`webhook_duplicate_rate`), or held back by a random delay
(`webhook_delay_secs`) which reorders events across and within calls. Retries, when enabled,
follow the newer `retry_enabled` behaviour: only 5xx, 429, 408 and network errors are retried.

A delivery never raises: failures are counted in `WebhookStats` and logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from orchestrator.dev.sandbox.config import SandboxConfig
from orchestrator.domain.signing import HEADER, sign

log = logging.getLogger(__name__)

#: Size of each piece of a chunked (`transfer-encoding: chunked`) body.
CHUNK_BYTES = 16 * 1024
#: Deliveries on the wire at once. httpcore's pool scans its whole queue for every request, so
#: thousands of queued posts would burn the CPU; waiting here instead keeps the pool's queue short
#: (and keeps queueing out of httpx's pool timeout, which would count as a failed delivery).
MAX_IN_FLIGHT = 32
#: Wall-second pauses between retries: short, because the sandbox runs compressed time.
RETRY_BACKOFF = (0.1, 0.3, 0.9)
_RETRY_STATUSES = frozenset({408, 429})


@dataclass
class WebhookStats:
    """Counters for `GET /sandbox/summary` → `webhooks`.

    `sent` counts copies put on the wire (a duplicate is two), `delivered` copies answered 2xx,
    `failed` copies that never got a 2xx, `dropped` events deliberately lost, `duplicated`
    events sent twice, `not_sent` events with nowhere to go (no `webhook_url`).
    """

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    duplicated: int = 0
    not_sent: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as JSON."""
        return asdict(self)


def envelope(event_type: str, data: dict[str, Any], event_timestamp: int) -> bytes:
    """The raw body of one event: `{"type", "event_timestamp", "data"}`."""
    payload = {"type": event_type, "event_timestamp": event_timestamp, "data": data}
    return json.dumps(payload, separators=(",", ":")).encode()


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    # An async iterator with no length makes httpx send `transfer-encoding: chunked`.
    for start in range(0, len(body), CHUNK_BYTES):
        yield body[start : start + CHUNK_BYTES]


class Deliverer:
    """Sends signed events to `config.webhook_url` through one shared client."""

    def __init__(self, config: SandboxConfig, rng: random.Random) -> None:
        self._config = config
        self._rng = rng
        self.client: httpx.AsyncClient | None = None
        self.stats = WebhookStats()
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

    def send(self, event_type: str, data: dict[str, Any], *, chunked: bool = False) -> None:
        """Queue one event for delivery (returns at once; faults are decided here)."""
        if not self._config.webhook_url:
            self.stats.not_sent += 1
            return
        if self._rng.random() < self._config.webhook_drop_rate:
            self.stats.dropped += 1
            log.debug("sandbox dropped a %s webhook", event_type)
            return
        body = envelope(event_type, data, int(time.time()))
        copies = 1
        if self._rng.random() < self._config.webhook_duplicate_rate:
            self.stats.duplicated += 1
            copies = 2
        for copy in range(copies):
            delay = self._rng.uniform(0.0, self._config.webhook_delay_secs)
            if copy:
                # The second copy follows the first after a short random gap, like a redelivery.
                delay += self._rng.uniform(0.01, 0.2)
            task = asyncio.create_task(self._deliver(body, delay, chunked))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @property
    def pending(self) -> int:
        """Deliveries queued or in flight."""
        return len(self._tasks)

    async def _deliver(self, body: bytes, delay: float, chunked: bool) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        self.stats.sent += 1
        attempts = 1 + (len(RETRY_BACKOFF) if self._config.webhook_retry else 0)
        for attempt in range(attempts):
            async with self._in_flight:
                retryable = await self._post_once(body, chunked)
            if retryable is None:
                self.stats.delivered += 1
                return
            if not retryable or attempt == attempts - 1:
                break
            await asyncio.sleep(RETRY_BACKOFF[attempt])
        self.stats.failed += 1

    async def _post_once(self, body: bytes, chunked: bool) -> bool | None:
        """POST once: None when delivered, else whether the failure is worth a retry."""
        url = self._config.webhook_url
        if self.client is None or url is None:
            log.warning("sandbox webhook client is not running; event not delivered")
            return False
        headers = {
            "Content-Type": "application/json",
            HEADER: sign(self._config.webhook_secret, int(time.time()), body),
        }
        try:
            if chunked:
                response = await self.client.post(url, content=_chunks(body), headers=headers)
            else:
                response = await self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.info("sandbox webhook to %s failed: %r", url, exc)
            return True
        if response.is_success:
            return None
        log.info("sandbox webhook to %s answered %s", url, response.status_code)
        return response.status_code >= 500 or response.status_code in _RETRY_STATUSES

    async def drain(self) -> None:
        """Wait until every queued delivery has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def cancel(self) -> None:
        """Abandon every queued delivery (reset and shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()

    async def aclose(self) -> None:
        """Cancel queued deliveries and wait for them to unwind."""
        tasks = list(self._tasks)
        self.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
