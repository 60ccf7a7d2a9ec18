"""Validating CSV records in worker processes while the importer writes to the database.

Checking a phone number (`phonenumbers`) costs more than storing the row, so a large import
validates batches in another process while the importing process writes the batches already
validated: on two cores the two halves overlap. Small files are validated in-process (starting a
process costs more than it saves).

A worker is `python -m orchestrator.intake.validation_worker`, fed through its stdin and answering
on its stdout (length-prefixed pickles, in order). Not `multiprocessing`: that re-imports the
caller's main module in every child (breaking scripts without a `__main__` guard), and `fork`
would copy the importer's threads mid-state.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import struct
import sys
from collections import deque
from collections.abc import Sequence
from typing import Any

from orchestrator.errors import ValidationFailed, ValidationWorkerError
from orchestrator.intake.rows import ContactRow, RowRules
from orchestrator.intake.text_rows import TextRows

#: Either a valid row, or the (field, reason) problems of a refused one.
Checked = ContactRow | list[tuple[str, str]]

#: Files at least this large are validated in worker processes.
PARALLEL_MIN_BYTES = 1_000_000
#: How a worker is started (after the interpreter).
WORKER_ARGS = ("-m", "orchestrator.intake.validation_worker")

FRAME = struct.Struct("!I")


def check_records(parser: TextRows, records: Sequence[Sequence[str]]) -> list[Checked]:
    """Validate records in order."""
    out: list[Checked] = []
    for cells in records:
        try:
            out.append(parser.parse(cells))
        except ValidationFailed as exc:
            out.append(exc.problems)
    return out


def frame(obj: Any) -> bytes:
    """A length-prefixed pickle."""
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME.pack(len(body)) + body


def worker_count(size: int, requested: int | None) -> int:
    """How many worker processes to use for a file of `size` bytes (0: validate in-process)."""
    if requested is not None:
        return max(0, requested)
    if size < PARALLEL_MIN_BYTES:
        return 0
    # Leave a core to the importer itself, which writes while the workers validate.
    return max(1, min(2, (os.cpu_count() or 2) - 1))


class _Worker:
    """One worker process; answers come back in the order batches were sent."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.waiting: deque[asyncio.Future[list[Checked]]] = deque()
        #: Set once the worker has imported everything and read its rules (its first frame).
        self.ready = False
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            head = await self.proc.stdout.readexactly(FRAME.size)
            await self.proc.stdout.readexactly(FRAME.unpack(head)[0])
            self.ready = True
            while True:
                head = await self.proc.stdout.readexactly(FRAME.size)
                body = await self.proc.stdout.readexactly(FRAME.unpack(head)[0])
                # Our own child's output: trusted like the rest of the process.
                items: list[Checked] = pickle.loads(body)  # noqa: S301
                future = self.waiting.popleft()
                if not future.done():
                    future.set_result(items)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            error = ValidationWorkerError(f"a validation worker exited early: {exc}")
            while self.waiting:
                future = self.waiting.popleft()
                if not future.done():
                    future.set_exception(error)

    async def send(self, obj: Any) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(frame(obj))
            await self.proc.stdin.drain()
        except (ConnectionError, BrokenPipeError) as exc:
            raise ValidationWorkerError(f"a validation worker exited early: {exc}") from exc

    async def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader
        for future in self.waiting:
            future.cancel()


class Validator:
    """Validates batches of records, in-process or in worker processes."""

    def __init__(self, header: Sequence[str], rules: RowRules, workers: int) -> None:
        self.parser = TextRows(header, rules)  # raises CsvRefused before any process starts
        self._header = list(header)
        self._rules = rules
        self.workers = workers
        self._pool: list[_Worker] = []
        self._next = 0

    async def start(self) -> None:
        """Start the worker processes (none when validating in-process).

        Batches are validated here until a worker is ready, so a slow start costs nothing and a
        worker that never starts leaves the import to this process.
        """
        for _ in range(self.workers):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                *WORKER_ARGS,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            worker = _Worker(proc)
            self._pool.append(worker)
            await worker.send((self._header, self._rules))

    async def submit(self, records: list[list[str]]) -> asyncio.Future[list[Checked]]:
        """Start validating a batch; the future gives one result per record, in order."""
        future: asyncio.Future[list[Checked]] = asyncio.get_running_loop().create_future()
        if not any(worker.ready for worker in self._pool):
            # No worker yet (or none at all): validate here rather than wait for one to start.
            future.set_result(check_records(self.parser, records))
            return future
        ready = [worker for worker in self._pool if worker.ready]
        worker = ready[self._next % len(ready)]
        self._next += 1
        worker.waiting.append(future)
        await worker.send(records)
        return future

    async def close(self) -> None:
        """Stop the workers; batches still pending are abandoned."""
        for worker in self._pool:
            await worker.close()
        self._pool.clear()
