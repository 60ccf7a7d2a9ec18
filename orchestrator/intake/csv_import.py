"""Streaming CSV import: rows are read, validated and upserted in batches, never all at once.

Bad rows are reported (line, field, reason) and written to a rejects file as they are found,
with the row's cells (`secret__` cells masked); the valid rows are imported regardless. Memory
stays flat whatever the file's size: one batch of rows, and at most `KEEP_ERRORS` errors kept for
the summary.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.domain.campaign_policy import policy_of
from orchestrator.intake.rows import ContactRow, RowRules
from orchestrator.intake.text_rows import CsvHeaderError
from orchestrator.intake.upsert import RowResult, upsert_batch
from orchestrator.intake.validation_pool import Checked, Validator, worker_count
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store import campaigns
from orchestrator.store.engine import Database
from orchestrator.store.models import Campaign

__all__ = ["BATCH", "CsvHeaderError", "ImportSummary", "RowError", "import_csv"]

BATCH = 4000
#: Errors kept in memory for the summary; every one goes to the rejects file.
KEEP_ERRORS = 1000


@dataclass(frozen=True)
class RowError:
    """Why one line of the file was refused."""

    line: int
    field: str
    reason: str


@dataclass
class ImportSummary:
    """Counts of one import, plus the first refused rows."""

    rows: int = 0
    accepted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    rejects_path: Path | None = None

    @property
    def imported(self) -> int:
        """Rows that now stand in the database as given."""
        return self.accepted + self.updated + self.unchanged

    def count(self, result: RowResult) -> None:
        """Count one upserted contact."""
        if result is RowResult.ACCEPTED:
            self.accepted += 1
        elif result is RowResult.UPDATED:
            self.updated += 1
        else:
            self.unchanged += 1


class _Rejects:
    """The rejects file, opened on the first refused row (no file when all rows are good)."""

    def __init__(self, path: Path | None, header: Sequence[str], stack: ExitStack) -> None:
        self.path = path
        self._header = list(header)
        self._stack = stack
        self._writer: Any = None

    def write(self, line: int, problems: list[tuple[str, str]], cells: Sequence[str]) -> None:
        if self.path is None:
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = self._stack.enter_context(self.path.open("w", newline="", encoding="utf-8"))
            self._writer = csv.writer(fh)
            self._writer.writerow(["line", "field", "reason", *self._header])
        for name, reason in problems:
            self._writer.writerow([line, name, reason, *cells])


def _records(
    text: io.TextIOWrapper,
) -> tuple[list[str] | None, Iterator[tuple[int, list[str]]]]:
    """The header, then (first line, cells) of every non-blank record."""
    reader = csv.reader(text)
    header = next(reader, None)

    def records() -> Iterator[tuple[int, list[str]]]:
        last = reader.line_num
        for cells in reader:
            line = reader.line_num
            if line != last + 1 and cells:
                # A quoted cell spanning lines: report the record's first line, where it begins.
                line -= sum(
                    cell.count("\n") + cell.count("\r") - cell.count("\r\n") for cell in cells
                )
            last = reader.line_num
            if cells:
                yield line, cells

    return header, records()


async def import_csv(
    db: Database,
    settings: Settings,
    path: Path,
    campaign_name: str,
    *,
    on_bytes: Callable[[int], None] | None = None,
    rejects_path: Path | None = None,
    workers: int | None = None,
) -> ImportSummary:
    """Import `path` into the campaign (created from defaults when missing).

    Args:
        db: the database.
        settings: agents, personas, secret keys, context variables.
        path: the CSV file (UTF-8, header row first).
        campaign_name: the campaign to import into.
        on_bytes: called with the bytes consumed, for a progress bar.
        rejects_path: where to write refused rows (nothing is written when all are good).
        workers: validation processes (default: some for large files, none for small ones).

    Raises:
        CsvHeaderError: the header is missing or lacks a required column.
    """
    async with db.session() as session:
        campaign = await campaigns.get_or_create(session, campaign_name, settings)
    rules = RowRules.for_campaign(settings, campaign.agent_id, policy_of(campaign.config))
    box = SecretBox([k.get_secret_value() for k in settings.secret_keys])
    with ExitStack() as stack:
        raw = stack.enter_context(path.open("rb"))
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        header, records = _records(text)
        if header is None:
            raise CsvHeaderError("the file is empty or has no header row")
        size = os.fstat(raw.fileno()).st_size
        validator = Validator(header, rules, worker_count(size, workers))
        run = _Run(db, campaign, box, validator, _Rejects(rejects_path, header, stack))
        await validator.start()
        try:
            await run.feed(records, raw, on_bytes)
        finally:
            await validator.close()
        if on_bytes is not None and size > run.consumed:
            on_bytes(size - run.consumed)
        if rejects_path is not None and run.summary.rejected:
            run.summary.rejects_path = rejects_path
    return run.summary


#: A batch on its way: the records' first lines, their cells, their validation results.
_Batch = tuple[list[int], list[list[str]], "asyncio.Future[list[Checked]]"]


class _Run:
    """One import: batches validated ahead (by the workers) while earlier ones are written."""

    def __init__(
        self,
        db: Database,
        campaign: Campaign,
        box: SecretBox,
        validator: Validator,
        rejects: _Rejects,
    ) -> None:
        self.db = db
        self.campaign = campaign
        self.box = box
        self.validator = validator
        self.rejects = rejects
        self.summary = ImportSummary()
        self.consumed = 0
        self._inflight: deque[_Batch] = deque()

    async def feed(
        self,
        records: Iterator[tuple[int, list[str]]],
        raw: io.BufferedReader,
        on_bytes: Callable[[int], None] | None,
    ) -> None:
        """Validate and store every record, reporting progress per stored batch."""
        lines: list[int] = []
        batch: list[list[str]] = []
        for line, cells in records:
            self.summary.rows += 1
            lines.append(line)
            batch.append(cells)
            if len(batch) >= BATCH:
                self._inflight.append((lines, batch, await self.validator.submit(batch)))
                lines, batch = [], []
                # Keep each worker busy with one batch while this process writes another.
                while len(self._inflight) > self.validator.workers:
                    await self._drain(raw, on_bytes)
        if batch:
            self._inflight.append((lines, batch, await self.validator.submit(batch)))
        while self._inflight:
            await self._drain(raw, on_bytes)

    async def _drain(self, raw: io.BufferedReader, on_bytes: Callable[[int], None] | None) -> None:
        lines, cells, future = self._inflight.popleft()
        good: list[ContactRow] = []
        for line, row_cells, checked in zip(lines, cells, await future, strict=True):
            if isinstance(checked, ContactRow):
                good.append(checked)
            else:
                self._reject(line, checked, row_cells)
        await self._store(good)
        position = raw.tell()
        if on_bytes is not None and position > self.consumed:
            on_bytes(position - self.consumed)
        self.consumed = max(self.consumed, position)

    def _reject(self, line: int, problems: list[tuple[str, str]], cells: list[str]) -> None:
        self.summary.rejected += 1
        for name, reason in problems:
            if len(self.summary.errors) < KEEP_ERRORS:
                self.summary.errors.append(RowError(line, name, reason))
        self.rejects.write(line, problems, self.validator.parser.masked(cells))

    async def _store(self, rows: list[ContactRow]) -> None:
        """Upsert one batch in one transaction and count the results."""
        if not rows:
            return
        async with self.db.session() as session:
            done = await upsert_batch(
                session, self.campaign, rows, self.box, sealing=self.validator.parser.has_secrets
            )
            for item in done:
                self.summary.count(item.result)
        # Duplicates inside one batch fold into one contact: count the folded rows as unchanged.
        self.summary.unchanged += len(rows) - len({r.external_id for r in rows})
