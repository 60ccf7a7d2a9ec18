"""Turns at SQLite's write lock between processes: background writers let urgent ones go first.

SQLite's write lock has no queue. A waiting writer retries (see `engine._begin_immediate`), and a
process with a backlog (the worker, committing batch after batch) re-takes the lock microseconds
after releasing it, so a waiting web process, retrying every millisecond or two, keeps finding
it taken: its webhooks wait for the worker's backlog instead of for one transaction.

So a web process that finds the lock taken says so with a marker file next to the database,
touched on every failed try and removed once it has the lock. A background writer checks the
marker (one `stat`) before it starts a transaction and, while a fresh one is there, waits a
little. The marker only ever delays background writers, and boundedly: one left behind by a
crashed process goes stale within `FRESH_SECS` and is then ignored, and no background writer
defers longer than `MAX_DEFER_SECS` at a time, so a busy web never starves the worker either.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from enum import StrEnum

#: A marker older than this is ignored: its writer would have touched it again by now.
FRESH_SECS = 0.25
#: Longest a background writer defers one transaction to urgent ones.
MAX_DEFER_SECS = 0.02
#: How often a deferring background writer looks at the marker again.
DEFER_STEP_SECS = 0.0005


class Priority(StrEnum):
    """How a process's write transactions queue for the lock."""

    #: Request paths (the web): a client waits on each transaction.
    URGENT = "urgent"
    #: Everything else (the worker): goes second while an urgent writer waits.
    BACKGROUND = "background"


class WriteTurns:
    """The marker of one SQLite database, from one process's side."""

    def __init__(self, database_path: str, priority: Priority) -> None:
        """Args:
        database_path: The database file; the marker is `<path>-urgent`.
        priority: This process's writers' priority.
        """
        self.path = f"{database_path}-urgent"
        self.priority = priority

    def waiting(self) -> None:
        """An urgent writer found the lock taken: (re)mark that it waits."""
        if self.priority is not Priority.URGENT:
            return
        with contextlib.suppress(OSError):  # a read-only folder: turns are an optimization
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.utime(fd)
            finally:
                os.close(fd)

    def acquired(self, *, waited: bool) -> None:
        """An urgent writer holds the lock now: it no longer waits."""
        if waited and self.priority is Priority.URGENT:
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    def urgent_waiting(self, now: float | None = None) -> bool:
        """Whether an urgent writer is waiting for the lock (a fresh marker exists)."""
        try:
            touched = os.stat(self.path).st_mtime
        except OSError:
            return False
        return (time.time() if now is None else now) - touched < FRESH_SECS

    def defer(self, pause: Callable[[float], None]) -> float:
        """For a background writer about to take the lock: let waiting urgent writers go first.

        Args:
            pause: Sleeps the given seconds (without blocking the event loop when async).

        Returns:
            Seconds deferred (0.0 when no urgent writer waits, or this writer is urgent).
        """
        if self.priority is not Priority.BACKGROUND:
            return 0.0
        started = time.monotonic()
        deferred = 0.0
        while deferred < MAX_DEFER_SECS and self.urgent_waiting():
            pause(DEFER_STEP_SECS)
            deferred = time.monotonic() - started
        return deferred
