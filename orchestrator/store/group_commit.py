"""Group commit: the dialer's small write transactions, committed together.

On SQLite a process writes through one connection (see `store/engine.py`), and each transaction
pays for taking the database's write lock and for its commit, whatever it writes. At dozens of
calls a second the dialer's claims, dial records and end-of-call bookkeeping would queue behind
one another for that connection. `GroupCommit.run(work)` queues `work` (a coroutine function of a
session) and one flusher runs every queued piece of work in a single transaction: under load the
batches grow by themselves, so the lock and the commit are paid once for many.

Each piece of work keeps its own outcome: if one raises, the batch is rolled back and each piece
is run again alone, so a failure never takes another piece down with it. A piece must therefore
be safe to run again after a rollback (every compare-and-set is) and must never open a session
of its own. On Postgres, where connections are plentiful, each piece is its own transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.store.engine import Database, is_sqlite

log = structlog.get_logger(__name__)

T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[Any]]

#: Pieces of work per transaction at most, so one commit never grows without bound. Heavy work
#: (end-of-call bookkeeping) gets its own `GroupCommit` with smaller batches, so the light and
#: urgent work (claims before a dial) never waits behind a long transaction.
MAX_BATCH = 64
#: Seconds a batch may hold the write lock before it commits what it has: the lock is shared
#: with the other processes (the web stores every webhook through it), and on SQLite a batch's
#: work runs without yielding (see `store/inline_sqlite.py`), so a long batch is their latency.
MAX_HOLD_SECS = 0.004


class GroupCommit:
    """Runs queued write work in shared transactions (one flusher per process)."""

    def __init__(
        self, db: Database, *, max_batch: int = MAX_BATCH, max_hold_secs: float = MAX_HOLD_SECS
    ) -> None:
        self._db = db
        self._max_batch = max_batch
        self._max_hold = max_hold_secs
        self._batched = is_sqlite(db.url)
        self._pending: list[tuple[Work, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._busy = False

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work` in a write transaction (shared with other work); its result or error."""
        if not self._batched:
            async with self._db.session() as s:
                return await work(s)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((work, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush_forever(), name="group-commit")
        self._wake.set()
        return await future

    async def aclose(self) -> None:
        """Stop the flusher (pending work is finished first)."""
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
                done = await self._flush(batch)
                # Work the time budget left out goes first in the next transaction.
                self._pending = batch[done:] + self._pending

    async def _flush(self, batch: list[tuple[Work, asyncio.Future[Any]]]) -> int:
        self._busy = True
        try:
            return await self._flush_batch(batch)
        finally:
            self._busy = False

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
