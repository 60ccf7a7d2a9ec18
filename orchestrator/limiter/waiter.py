"""Wake dialers the moment a slot frees, instead of polling the limiter.

One pub/sub subscription per process. Waiting dialers queue first-in first-out, and each release
wakes only the first few of them — waking every waiter for one free slot would have dozens of
coroutines race for it and all but one go back to sleep, which at dozens of releases a second
costs more CPU than the dialing itself. A woken waiter that finds the slot taken by a scope other
than the account (its campaign is full, say) passes the wake on (`pass_on`), so a free slot never
sits idle while someone else could use it. A timeout bounds every wait, so a missed message
costs one short delay, never a stuck dialer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from redis.asyncio import Redis

from orchestrator import keys

#: Waiters woken per released slot: one to take it, one spare in case another process wins it.
WAKE_PER_RELEASE = 2


class SlotWaiter:
    """Lets coroutines wait, in arrival order, for "a slot was released" notifications."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._queue: deque[asyncio.Future[None]] = deque()
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

    @property
    def waiting(self) -> int:
        """Coroutines waiting now."""
        return sum(1 for f in self._queue if not f.done())

    def notify(self, count: int = WAKE_PER_RELEASE) -> int:
        """Wake the `count` longest-waiting coroutines; returns how many were woken."""
        woken = 0
        while self._queue and woken < count:
            future = self._queue.popleft()
            if not future.done():
                future.set_result(None)
                woken += 1
        return woken

    def notify_all(self) -> None:
        """Wake every waiter (a local event that may concern any of them)."""
        self.notify(len(self._queue))

    def pass_on(self) -> None:
        """Hand a wake this waiter could not use to the next one in line."""
        self.notify(1)

    async def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a release; True when woken by one."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(future)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return False
        finally:
            if not future.done():
                future.cancel()
                with contextlib.suppress(ValueError):
                    self._queue.remove(future)
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
