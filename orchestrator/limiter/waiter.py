"""Wake dialers the moment a slot frees, instead of polling the limiter.

One pub/sub subscription per process; every waiting dialer awaits a shared asyncio event that the
subscription sets on each release. A timeout bounds every wait, so a missed message only costs
one short delay, never a stuck dialer.
"""

from __future__ import annotations

import asyncio
import contextlib

from redis.asyncio import Redis

from orchestrator import keys


class SlotWaiter:
    """Lets coroutines wait for "some slot was released" notifications."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe to release notifications in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="slot-waiter")

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def notify(self) -> None:
        """Wake every waiter now (used after a local release, saving a round trip)."""
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a release; True when one was announced."""
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _listen(self) -> None:
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(keys.SLOTS_FREED_CHANNEL)
                try:
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.notify()
                finally:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis went away: waits fall back to their timeouts until it is back.
                await asyncio.sleep(0.5)
