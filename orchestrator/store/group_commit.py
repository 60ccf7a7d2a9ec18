"""Group commit: many small writes from concurrent callers, committed together.

On SQLite a process writes through one connection (see `store/engine.py`), and each transaction
pays for taking the database's write lock and for its commit, whatever it writes. At dozens of
calls a second the dialer's claims and end-of-call bookkeeping, and at hundreds a second the
webhooks the web stores, would queue behind one another for that lock. Both go through a
`Batcher`: callers `submit` an item and wait on a future; one flusher hands everything that
queued meanwhile to a flush function as one batch, so under load the batches grow by themselves
and the lock and the commit are paid once for many.

- `GroupCommit.run(work)`: `work` is a coroutine function of a session; a batch runs in one
  transaction. Each piece keeps its own outcome: if one raises, the batch is rolled back and each
  piece is run again alone, so a failure never takes another piece down with it. A piece must
  therefore be safe to run again after a rollback (every compare-and-set is) and must never open
  a session of its own. On Postgres, where connections are plentiful, each piece is its own
  transaction.
- `tracking/event_writer.py`: webhook events, one multi-row INSERT per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.store.engine import Database, is_sqlite

log = structlog.get_logger(__name__)

T = TypeVar("T")
Item = TypeVar("Item")
R = TypeVar("R")
Work = Callable[[AsyncSession], Awaitable[Any]]

#: Pieces of work per transaction at most, so one commit never grows without bound. Heavy work
#: (end-of-call bookkeeping) gets its own `GroupCommit` with smaller batches, so the light and
#: urgent work (claims before a dial) never waits behind a long transaction.
MAX_BATCH = 64
#: Seconds a batch may hold the write lock before it commits what it has: the lock is shared
#: with the other processes (the web stores every webhook through it), and on SQLite a batch's
#: work runs without yielding (see `store/inline_sqlite.py`), so a long batch is their latency.
MAX_HOLD_SECS = 0.004


class Batcher(Generic[Item, R]):
    """Collects items from concurrent callers; one flusher hands them over in batches.

    `flush(batch)` gets the (item, future) pairs of up to `max_batch` items, sets each future,
    and returns how many it took: the rest go first in the next batch. Should `flush` raise,
    every future of the batch gets its exception.
    """

    def __init__(
        self,
        flush: Callable[[list[tuple[Item, asyncio.Future[R]]]], Awaitable[int]],
        *,
        max_batch: int,
        name: str,
    ) -> None:
        self._flush_fn = flush
        self._max_batch = max_batch
        self._name = name
        self._pending: list[tuple[Item, asyncio.Future[R]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._busy = False

    async def submit(self, item: Item) -> R:
        """Queue `item` for the next batch; its result (or error) once the batch is flushed."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush_forever(), name=self._name)
        self._wake.set()
        return await future

    async def aclose(self) -> None:
        """Stop the flusher once everything queued is flushed (nothing accepted is dropped)."""
        while self._pending or self._busy:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                self._pending = self._pending[self._max_batch :]
                self._busy = True
                try:
                    done = await self._flush_fn(batch)
                except Exception as exc:
                    log.exception("batch.failed", batcher=self._name, items=len(batch))
                    for _, future in batch:
                        _fail(future, exc)
                    done = len(batch)
                finally:
                    self._busy = False
                # Work a flush left out (a time budget) goes first in the next batch.
                self._pending = batch[done:] + self._pending


class GroupCommit:
    """Runs queued write work in shared transactions (one flusher per process)."""

    def __init__(
        self, db: Database, *, max_batch: int = MAX_BATCH, max_hold_secs: float = MAX_HOLD_SECS
    ) -> None:
        self._db = db
        self._max_hold = max_hold_secs
        self._batched = is_sqlite(db.url)
        self._batcher: Batcher[Work, Any] = Batcher(
            self._flush_batch, max_batch=max_batch, name="group-commit"
        )

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work` in a write transaction (shared with other work); its result or error."""
        if not self._batched:
            async with self._db.session() as s:
                return await work(s)
        result: T = await self._batcher.submit(work)
        return result

    async def aclose(self) -> None:
        """Stop the flusher (pending work is finished first)."""
        await self._batcher.aclose()

    async def _flush_batch(self, batch: list[tuple[Work, asyncio.Future[Any]]]) -> int:
        """Run pieces of `batch` in one transaction until the time budget; how many ran."""
        results: list[Any] = []
        try:
            async with self._db.session() as s:
                started = time.perf_counter()
                for work, _ in batch:
                    results.append(await work(s))
                    if time.perf_counter() - started > self._max_hold:
                        break
        except Exception as exc:
            ran = batch[: len(results) + 1]
            if len(ran) == 1:
                _fail(ran[0][1], exc)
                return 1
            # One piece failed and took the transaction with it: run each piece alone, so
            # only that one fails.
            for work, future in ran:
                try:
                    async with self._db.session() as s:
                        value = await work(s)
                except Exception as alone:
                    _fail(future, alone)
                else:
                    _succeed(future, value)
            return len(ran)
        for (_, future), value in zip(batch, results, strict=False):
            _succeed(future, value)
        return len(results)


def _succeed(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
