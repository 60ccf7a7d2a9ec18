"""Database engine and sessions.

SQLite (the one-machine default) runs in WAL mode so the web and worker processes share one file:
readers never block the writer. SQLite has one write lock per database, so each process writes
through ONE connection: concurrent transactions of a process queue in asyncio (cheap, fair)
instead of each holding a connection that fights the other processes for the lock while its
coroutine waits for the event loop. Write transactions start with `BEGIN IMMEDIATE`, which takes
the lock up front (a deferred transaction that reads then writes can fail at once with "database
is locked"). Pure reads use `Database.quick()` (point lookups, run inline on the event loop's
thread, see `store/inline_sqlite.py`) or `Database.read()` (anything longer, on aiosqlite's
threads): read-only pools of deferred transactions that never touch the lock. Writes run inline
too: they are short, and the lock is taken with non-blocking retries. The write-ahead log is
checkpointed by a thread of its own (`Checkpointer`), never inside a commit.
Postgres is used through `DATABASE_URL` (asyncpg) with an ordinary pool for all three.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import event, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_
from sqlalchemy.util.concurrency import in_greenlet
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.store.inline_sqlite import InlineConnection, inline_creator
from orchestrator.store.write_turns import Priority, WriteTurns

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms between tries, so under steady write
#: traffic from several processes a waiting writer keeps losing the lock and its latency grows
#: long tails. We take the write lock ourselves with short sleeps instead (yielding the event
#: loop while we wait), and keep SQLite's handler for anything else.
_LOCK_SLEEPS = (0.0002, 0.0005, 0.001, 0.002)
#: An urgent writer (see `store/write_turns.py`) keeps retrying often: background writers stand
#: back while it waits, so the lock is usually free within one of their transactions.
_URGENT_SLEEPS = (0.0002, 0.0005)
#: Seconds between write-ahead-log checkpoints (see `Checkpointer`).
CHECKPOINT_SECS = 0.5


def async_url(url: str) -> str:
    """Map the URLs platforms hand out to their async drivers."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    if url.startswith("postgresql+asyncpg://"):
        return _asyncpg_query(url)
    if url.startswith("sqlite:///") or url.startswith("sqlite://"):
        return "sqlite+aiosqlite" + url.removeprefix("sqlite")
    return url


def _asyncpg_query(url: str) -> str:
    """Rename libpq's `sslmode` (which managed Postgres URLs often carry) to asyncpg's `ssl`.

    asyncpg takes the same modes (`disable` ... `verify-full`) but refuses `sslmode` outright
    ("connect() got an unexpected keyword argument").
    """
    base, sep, query = url.partition("?")
    if not sep:
        return url
    pairs = parse_qsl(query, keep_blank_values=True)
    return f"{base}?{urlencode([('ssl' if k == 'sslmode' else k, v) for k, v in pairs])}"


def _configure_sqlite(
    engine: AsyncEngine, *, readonly: bool = False, turns: WriteTurns | None = None
) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so "begin" below decides the mode.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # No checkpoint inside a commit: it would stall the committing process (its event loop,
        # for inline connections) while it copies the log. `Checkpointer` does it aside.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        if readonly:
            # Read sessions run inline on the event loop: a stray write must fail at once,
            # never wait there for the write lock.
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if readonly:
            # Straight to the driver when inline: through `exec_driver_sql` the BEGIN cost as
            # much as the point lookup it opens (the hot paths' reads).
            raw = _raw_inline(conn.connection.dbapi_connection)
            if raw is not None:
                raw.execute("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN")
        else:
            _begin_immediate(conn.connection.dbapi_connection, turns)


def _raw_inline(dbapi_connection: Any) -> sqlite3.Connection | None:
    """The sqlite3 connection under SQLAlchemy's adapter, when it runs inline on this thread."""
    inner = getattr(dbapi_connection, "_connection", None)
    return inner.raw() if isinstance(inner, InlineConnection) else None


def _begin_immediate(dbapi_connection: Any, turns: WriteTurns | None = None) -> None:
    """Take the write lock, retrying briefly while another process holds it.

    With `turns`, a background writer first lets waiting urgent writers (the web) go, and an
    urgent writer marks that it waits (see `store/write_turns.py`).

    On an inline connection the tries go to the driver directly. Through SQLAlchemy's adapter
    each refused try raised an exception whose traceback holds its frames in a reference cycle:
    a writer waiting for another process's transaction made hundreds of them a second, and the
    cyclic collector then stopped the event loop for about 100 ms at a time to free them.
    """
    urgent = turns is not None and turns.priority is Priority.URGENT
    sleeps = _URGENT_SLEEPS if urgent else _LOCK_SLEEPS
    raw = _raw_inline(dbapi_connection)
    cursor = raw if raw is not None else dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=0")
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        tries = 0
        while True:
            if turns is not None:
                turns.defer(_pause)
            if _try_begin(cursor):
                break
            if time.monotonic() > deadline:
                raise sqlite3.OperationalError("database is locked")
            if turns is not None:
                turns.waiting()
            _pause(sleeps[min(tries, len(sleeps) - 1)])
            tries += 1
        if turns is not None:
            turns.acquired(waited=tries > 0)
    finally:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if raw is None:
            cursor.close()


def _try_begin(cursor: Any) -> bool:
    """`BEGIN IMMEDIATE`: True when it took the lock, False when another process holds it."""
    try:
        cursor.execute("BEGIN IMMEDIATE")
    except Exception as exc:  # the driver's OperationalError ("database is locked")
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        return False
    return True


def _pause(secs: float) -> None:
    """Sleep without stopping the event loop when called from SQLAlchemy's async bridge.

    The "begin" hook runs in the greenlet of an async session, on the event loop's thread: a
    blocking sleep there would freeze every other coroutine of the process while another process
    holds the write lock.
    """
    if in_greenlet():
        await_(asyncio.sleep(secs))
    else:
        time.sleep(secs)


def is_sqlite(url: str) -> bool:
    """True for SQLite URLs."""
    return async_url(url).startswith("sqlite")


def make_engine(
    url: str,
    *,
    readonly: bool = False,
    inline: bool = False,
    priority: Priority = Priority.BACKGROUND,
    **kwargs: Any,
) -> AsyncEngine:
    """Create the async engine for `url`, tuned for its backend.

    For SQLite the write engine has exactly one connection (see the module docstring); the
    read-only engines have small pools. `inline` runs SQLite on the event loop's thread instead
    of aiosqlite's (see `store/inline_sqlite.py`): for short transactions only. `priority` is the
    write engine's turn at the lock among processes (see `store/write_turns.py`).
    """
    real = async_url(url)
    if real.startswith("sqlite"):
        pool = (
            {"pool_size": 4, "max_overflow": 4} if readonly else {"pool_size": 1, "max_overflow": 0}
        )
        timeout = SQLITE_BUSY_TIMEOUT_MS / 1000
        driver: dict[str, Any] = {"connect_args": {"timeout": timeout}}
        path = make_url(real).database or ":memory:"
        if inline:
            driver = {"async_creator": inline_creator(path, timeout=timeout)}
        engine = create_async_engine(real, pool_timeout=300, **{**driver, **pool, **kwargs})
        turns = WriteTurns(path, priority) if path != ":memory:" and not readonly else None
        _configure_sqlite(engine, readonly=readonly, turns=turns)
        return engine
    return create_async_engine(real, pool_pre_ping=True, **kwargs)


async def insert_missing(session: AsyncSession, model: Any, **values: Any) -> None:
    """INSERT one row of `model` unless a row with its key exists (ON CONFLICT DO NOTHING).

    A get-then-add is atomic on SQLite, whose write lock admits one writer at a time; on Postgres
    two transactions can both find nothing and the second INSERT fails on the key. Follow with a
    `get(..., with_for_update=True)` to read-modify-write the row safely on either backend.
    """
    conn = await session.connection()
    table = model.__table__
    stmt: Any = (
        postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    )
    await session.exec(stmt.values(**values).on_conflict_do_nothing())


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


class Checkpointer:
    """Copies SQLite's write-ahead log into the database, on a thread of its own.

    SQLite would do it inside whichever commit crosses the log's threshold, stalling that
    process for as long as the copy takes. A PASSIVE checkpoint runs beside readers and writers
    (it copies what no reader still needs and never waits); the log is then reused from the
    start. Every process that writes runs one (two at once simply take turns).
    """

    def __init__(self, path: str, interval_secs: float = CHECKPOINT_SECS) -> None:
        self._path = path
        self._interval = interval_secs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self._path, timeout=0.1, check_same_thread=False)
        except sqlite3.Error:
            return
        try:
            while not self._stop.wait(self._interval):
                with contextlib.suppress(sqlite3.Error):  # busy: the next round will do it
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            connection.close()

    def stop(self) -> None:
        """Stop the thread (after one last checkpoint round at most)."""
        self._stop.set()
        self._thread.join(timeout=5)


class Database:
    """Engines and session factories, built once per process."""

    def __init__(
        self,
        url: str,
        *,
        inline_writes: bool = True,
        write_priority: Priority = Priority.BACKGROUND,
        **kwargs: Any,
    ) -> None:
        """Open the engines for `url`.

        Args:
            url: The database URL.
            inline_writes: On SQLite, run write transactions on the event loop's thread (they
                are short; False moves them to aiosqlite's thread).
            write_priority: On SQLite, this process's turn at the write lock: `URGENT` for the
                web, whose clients wait on its writes (see `store/write_turns.py`).
            **kwargs: Passed to the engines.
        """
        self.url = url
        sqlite_db = is_sqlite(url)
        self.engine = make_engine(
            url, inline=sqlite_db and inline_writes, priority=write_priority, **kwargs
        )
        self.sessions = session_factory(self.engine)
        self.checkpointer: Checkpointer | None = None
        if sqlite_db:
            self.read_engine = make_engine(url, readonly=True, **kwargs)
            self.read_sessions = session_factory(self.read_engine)
            self.quick_engine = make_engine(url, readonly=True, inline=True, **kwargs)
            self.quick_sessions = session_factory(self.quick_engine)
            path = make_url(async_url(url)).database
            if path and path != ":memory:":
                self.checkpointer = Checkpointer(path)
        else:
            self.read_engine = self.quick_engine = self.engine
            self.read_sessions = self.quick_sessions = self.sessions

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A write session in one transaction: committed on success, rolled back on error.

        Never open a second `session()` while holding one: on SQLite the process has a single
        write connection, so the inner one would wait for the outer forever.
        """
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only session (a consistent snapshot); it never takes the write lock."""
        async with self.read_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def quick(self) -> AsyncIterator[AsyncSession]:
        """A read-only session for a few point lookups (by key or index), the hot paths' reads.

        On SQLite it runs on the event loop's thread, without aiosqlite's thread hand-offs, so
        it must never scan: use `read()` for anything that may take more than a millisecond.
        """
        async with self.quick_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def quick_connection(self) -> AsyncIterator[AsyncConnection]:
        """Like `quick()`, without the ORM session: for a hot path's prebuilt Core query."""
        async with self.quick_engine.connect() as connection:
            yield connection

    async def dispose(self) -> None:
        """Close every pooled connection (and stop the checkpointer)."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
            self.checkpointer = None
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
        if self.quick_engine is not self.engine:
            await self.quick_engine.dispose()
