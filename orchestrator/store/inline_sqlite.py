"""An aiosqlite connection that runs SQLite on the event loop's own thread.

aiosqlite hands every call (cursor, execute, fetch, commit ...) to a thread of its own and back,
which costs far more than the call itself: a one-row read in a transaction took about 1.6 ms of
CPU through it, ten times SQLite's own work. Point lookups and short write transactions return in
microseconds in WAL mode (readers never wait for the writer, and our writer takes its lock with
non-blocking retries, see `engine._begin_immediate`), so running them inline is both cheaper and
faster. Long queries (reports, exports) keep the threaded driver: they would stall the loop.

SQLAlchemy's aiosqlite dialect is used unchanged; only the driver connection it wraps differs
(through `create_async_engine(async_creator=...)`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite


class _InlineQueue:
    """Stands in for aiosqlite's queue to its thread: runs each piece of work at once.

    SQLAlchemy's adapter puts work on that queue itself (to set the isolation level).
    """

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller, like aiosqlite does
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """`aiosqlite.Connection` without its thread: each call runs where it is awaited."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _InlineQueue()  # type: ignore[assignment]

    def __await__(self) -> Any:
        return self._open().__await__()

    async def _open(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def raw(self) -> sqlite3.Connection | None:
        """The driver's connection (usable here: it lives on this thread), if open."""
        return self._connection

    def stop(self) -> None:
        """Close the connection (there is no thread to stop)."""
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        """Close the connection."""
        self.stop()


def inline_creator(path: str, *, timeout: float) -> Callable[[], Any]:
    """An `async_creator` for `create_async_engine` opening `path` inline.

    `check_same_thread=False`: the pool may close a connection from the garbage collector's
    thread; every use is on the event loop's thread.
    """

    async def create() -> InlineConnection:
        def connector() -> sqlite3.Connection:
            return sqlite3.connect(path, timeout=timeout, check_same_thread=False)

        connection: InlineConnection = await InlineConnection(connector)
        return connection

    return create
