"""Turns at SQLite's write lock: background writers let a waiting web process go first."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import make_url, text

from orchestrator.store.engine import Database
from orchestrator.store.write_turns import MAX_DEFER_SECS, Priority, WriteTurns


def turns(tmp_path: Path, priority: Priority) -> WriteTurns:
    return WriteTurns(str(tmp_path / "orchestrator.db"), priority)


def test_an_urgent_writer_marks_while_it_waits_and_clears_once_it_holds_the_lock(
    tmp_path: Path,
) -> None:
    web = turns(tmp_path, Priority.URGENT)
    worker = turns(tmp_path, Priority.BACKGROUND)
    assert not worker.urgent_waiting()
    web.waiting()
    assert os.path.exists(web.path)
    assert worker.urgent_waiting()
    web.acquired(waited=True)
    assert not os.path.exists(web.path)
    assert not worker.urgent_waiting()


def test_a_background_writer_never_marks(tmp_path: Path) -> None:
    worker = turns(tmp_path, Priority.BACKGROUND)
    worker.waiting()
    assert not os.path.exists(worker.path)
    assert not worker.urgent_waiting()


def test_a_background_writer_defers_until_the_urgent_one_has_the_lock(tmp_path: Path) -> None:
    web = turns(tmp_path, Priority.URGENT)
    worker = turns(tmp_path, Priority.BACKGROUND)
    web.waiting()
    pauses: list[float] = []

    def pause(secs: float) -> None:
        pauses.append(secs)
        if len(pauses) == 3:
            web.acquired(waited=True)

    assert worker.defer(pause) > 0
    assert len(pauses) == 3
    # Nobody waits any more: no pause at all.
    pauses.clear()
    assert worker.defer(pause) == 0.0
    assert pauses == []


def test_an_urgent_writer_never_defers(tmp_path: Path) -> None:
    web = turns(tmp_path, Priority.URGENT)
    web.waiting()
    pauses: list[float] = []
    assert web.defer(pauses.append) == 0.0
    assert pauses == []


def test_a_marker_left_by_a_crashed_process_goes_stale(tmp_path: Path) -> None:
    web = turns(tmp_path, Priority.URGENT)
    worker = turns(tmp_path, Priority.BACKGROUND)
    web.waiting()
    old = time.time() - 5
    os.utime(web.path, (old, old))
    pauses: list[float] = []
    assert not worker.urgent_waiting()
    assert worker.defer(pauses.append) == 0.0
    assert pauses == []


def test_deferring_is_bounded_when_the_marker_stays(tmp_path: Path) -> None:
    web = turns(tmp_path, Priority.URGENT)
    worker = turns(tmp_path, Priority.BACKGROUND)
    pauses: list[float] = []

    def pause(secs: float) -> None:
        pauses.append(secs)
        web.waiting()  # a web process that keeps waiting keeps its marker fresh
        time.sleep(secs)

    web.waiting()
    deferred = worker.defer(pause)
    assert deferred >= MAX_DEFER_SECS
    assert worker.urgent_waiting()  # still marked, yet the worker goes ahead


def _hold_lock_until(path: str, locked: threading.Event, release: threading.Event) -> None:
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(10)
        conn.execute("COMMIT")
    finally:
        conn.close()


async def test_a_web_write_waiting_for_the_lock_shows_its_marker_to_the_worker(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    web = Database(url, write_priority=Priority.URGENT)
    worker = Database(url)
    path = make_url(url).database
    assert path is not None
    seen = WriteTurns(path, Priority.BACKGROUND)
    try:
        async with worker.session() as s:
            await s.exec(text("CREATE TABLE t (x INTEGER)"))  # type: ignore[call-overload]
        async with web.session() as s:  # opens the web's write connection
            await s.exec(text("INSERT INTO t VALUES (0)"))  # type: ignore[call-overload]
        locked, release = threading.Event(), threading.Event()
        holder = threading.Thread(target=_hold_lock_until, args=(path, locked, release))
        holder.start()
        assert await asyncio.to_thread(locked.wait, 10)

        async def web_write() -> None:
            async with web.session() as s:
                await s.exec(text("INSERT INTO t VALUES (1)"))  # type: ignore[call-overload]

        writing = asyncio.create_task(web_write())
        marked = False
        for _ in range(1000):
            await asyncio.sleep(0.001)
            if seen.urgent_waiting():
                marked = True
                break
        release.set()
        await writing
        await asyncio.to_thread(holder.join, 10)
        assert marked, "the waiting web write never marked that it waits"
        assert not seen.urgent_waiting()
        async with worker.quick() as s:
            rows = (await s.exec(text("SELECT x FROM t ORDER BY x"))).all()  # type: ignore[call-overload]
        assert [r[0] for r in rows] == [0, 1]
    finally:
        release.set()
        await web.dispose()
        await worker.dispose()
