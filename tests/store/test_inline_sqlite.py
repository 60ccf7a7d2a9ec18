"""The inline SQLite driver: quick reads, the write lock taken without blocking the loop."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import make_url, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.store.engine import SQLITE_BUSY_TIMEOUT_MS, Database
from orchestrator.store.inline_sqlite import InlineConnection
from orchestrator.store.models import Campaign

#: How long the other connection holds the write lock at least.
HOLD_SECS = 0.3
#: Ticks of the loop's counter the other connection waits for before it lets go.
TICKS_WHILE_WAITING = 10


def db_path(db: Database) -> str:
    path = make_url(db.url).database
    assert path
    return path


def campaign(name: str) -> Campaign:
    return Campaign(name=name, agent_id="agent_test", phone_number_id="phnum_test")


async def campaign_names(s: AsyncSession) -> list[str]:
    return list((await s.exec(select(Campaign.name).order_by(col(Campaign.id)))).all())


async def sql_thread(s: AsyncSession) -> int:
    """The id of the thread on which the session's connection runs its SQL."""
    conn = await s.connection()
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.create_function("sql_thread", 0, threading.get_ident)
    value = (await s.exec(text("SELECT sql_thread()"))).scalar_one()  # type: ignore[call-overload]
    return int(value)


async def test_quick_sessions_read_what_write_sessions_committed(db: Database) -> None:
    async with db.session() as s:
        s.add(campaign("first"))
    async with db.quick() as s:
        assert await campaign_names(s) == ["first"]
    async with db.session() as s:
        s.add(campaign("second"))
    # The pooled inline connection starts a fresh snapshot: the later commit is seen.
    async with db.quick() as s:
        assert await campaign_names(s) == ["first", "second"]


async def test_a_quick_session_refuses_writes(db: Database) -> None:
    with pytest.raises(sa_exc.DBAPIError):
        async with db.quick() as s:
            s.add(campaign("sneaky"))
            await s.flush()
    async with db.read() as s:
        assert await campaign_names(s) == []


def _hold_write_lock(
    path: str,
    locked: threading.Event,
    waited_enough: threading.Event,
    committing: threading.Event,
) -> None:
    """Hold SQLite's write lock from another connection until the loop has shown it runs."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        since = time.monotonic()
        # Let go once the loop has ticked enough (bounded: a frozen loop never ticks).
        waited_enough.wait(10)
        left = HOLD_SECS - (time.monotonic() - since)
        if left > 0:
            time.sleep(left)
        committing.set()
        conn.execute("COMMIT")
    finally:
        conn.close()


async def hold_after_warm_up(
    db: Database,
) -> tuple[threading.Thread, threading.Event, threading.Event, threading.Event]:
    """Open the write connection (its PRAGMAs run when it connects), then start a thread
    holding the write lock from another connection (see `_hold_write_lock`)."""
    async with db.session() as s:
        s.add(campaign("warm-up"))
    locked, waited_enough, committing = threading.Event(), threading.Event(), threading.Event()
    holder = threading.Thread(
        target=_hold_write_lock, args=(db_path(db), locked, waited_enough, committing)
    )
    holder.start()
    return holder, locked, waited_enough, committing


async def test_a_write_waits_for_another_connection_without_blocking_the_loop(
    db: Database,
) -> None:
    holder, locked, waited_enough, committing = await hold_after_warm_up(db)
    ticks = 0
    waiting_since: int | None = None

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1
            if waiting_since is not None and ticks - waiting_since >= TICKS_WHILE_WAITING:
                waited_enough.set()

    ticker = asyncio.create_task(tick())
    try:
        assert await asyncio.to_thread(locked.wait, 10)
        waiting_since = ticks
        async with db.session() as s:
            s.add(campaign("waiter"))
        ticks_while_waiting = ticks - waiting_since
        # The write could only take the lock once the other connection was committing.
        assert committing.is_set()
    finally:
        waited_enough.set()
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
        await asyncio.to_thread(holder.join, 10)
    assert ticks_while_waiting >= TICKS_WHILE_WAITING
    async with db.quick() as s:
        assert await campaign_names(s) == ["warm-up", "waiter"]
    # The retries turn SQLite's busy handler off while taking the lock, and back on after.
    async with db.session() as s:
        timeout = (await s.exec(text("PRAGMA busy_timeout"))).scalar_one()  # type: ignore[call-overload]
    assert timeout == SQLITE_BUSY_TIMEOUT_MS


async def test_waiting_for_the_lock_leaves_no_cyclic_garbage(db: Database) -> None:
    """Refused tries must not build reference cycles: the web retries hundreds of times a
    second while the worker commits, and the cyclic collector freeing them stopped its event
    loop for about 100 ms at a time (webhook p99)."""
    holder, locked, waited_enough, committing = await hold_after_warm_up(db)
    gc.collect()
    gc.disable()
    try:
        assert await asyncio.to_thread(locked.wait, 10)
        waited_enough.set()  # let go after HOLD_SECS: hundreds of refused tries meanwhile
        async with db.session() as s:
            s.add(campaign("waiter"))
        assert committing.is_set()
        cyclic = gc.collect()
    finally:
        gc.enable()
        waited_enough.set()
        await asyncio.to_thread(holder.join, 10)
    # A handful from the session itself; the refused tries made thousands.
    assert cyclic < 100


async def test_quick_sessions_start_no_thread_unlike_the_threaded_read_engine(
    db: Database,
) -> None:
    def started_since(before: set[threading.Thread]) -> set[threading.Thread]:
        # Threads left over from earlier tests may end meanwhile: only new ones count.
        return set(threading.enumerate()) - before

    before = set(threading.enumerate())
    async with db.quick() as s:
        assert await campaign_names(s) == []
        assert started_since(before) == set()
    assert started_since(before) == set()
    # The control: aiosqlite's driver (`read()`) keeps a thread per pooled connection.
    async with db.read() as s:
        assert await campaign_names(s) == []
    assert len(started_since(before)) == 1


async def test_sql_runs_on_the_calling_thread_for_inline_engines_only(db: Database) -> None:
    loop_thread = threading.get_ident()
    async with db.quick() as s:
        assert await sql_thread(s) == loop_thread
    async with db.session() as s:
        assert await sql_thread(s) == loop_thread
    async with db.read() as s:
        assert await sql_thread(s) != loop_thread


async def test_a_closed_inline_connection_refuses_work(tmp_path: Path) -> None:
    path = str(tmp_path / "inline.db")
    conn = await InlineConnection(lambda: sqlite3.connect(path))
    cursor = await conn.execute("SELECT 41 + 1")
    assert await cursor.fetchone() == (42,)
    await conn.close()
    with pytest.raises(ValueError):
        await conn.execute("SELECT 1")
    with pytest.raises(ValueError):
        await conn.commit()
    await conn.close()  # closing twice is harmless
