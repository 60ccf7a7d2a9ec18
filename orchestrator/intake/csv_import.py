"""Streaming CSV import: rows are read, validated and upserted in batches, never all at once.

Bad rows are reported (line, field, reason) and written to a rejects file as they are found,
with the row's cells (`secret__` cells masked); the valid rows are imported regardless. Memory
stays flat whatever the file's size: one batch of rows, and at most `KEEP_ERRORS` errors kept for
the summary.

A file that is not UTF-8 is refused whole before any row is stored (`CsvNotUtf8`, naming
the line and byte): read in another encoding, every row would be suspect. Records the CSV reader
cannot read (a quote left open, text after a closing quote, a cell over `csv.field_size_limit()`)
are one refused row, naming the lines skipped; reading goes on after them.

The campaign must exist: a typo in its name never creates one. `create=True` creates it (checked
like `orchestrator campaigns create`), but only once the file is known to be importable.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from orchestrator.domain.campaign_policy import policy_of
from orchestrator.errors import CsvNotUtf8, CsvRefused, NotFound
from orchestrator.intake.campaign_spec import resolve_create
from orchestrator.intake.rows import ContactRow, RowRules
from orchestrator.intake.upsert import RowResult, upsert_batch
from orchestrator.intake.validation_pool import Checked, Validator, worker_count
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store import campaigns
from orchestrator.store.engine import Database
from orchestrator.store.models import Campaign

__all__ = [
    "BATCH",
    "CsvNotUtf8",
    "CsvRefused",
    "ImportSummary",
    "RowError",
    "import_csv",
]

BATCH = 4000
#: Errors kept in memory for the summary; every one goes to the rejects file.
KEEP_ERRORS = 1000
#: Bytes read at a time when checking the encoding.
_CHUNK = 1 << 20


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
    #: Whether the import created its campaign (`create=True` and none by that name).
    created_campaign: bool = False

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


class _Unreadable(NamedTuple):
    """Lines the CSV reader could not make a record of, and why."""

    reason: str


def _check_utf8(raw: IO[bytes]) -> None:
    """Read the whole file once to refuse it before anything is stored when it is not UTF-8.

    Raises:
        CsvNotUtf8: naming the first byte that is not UTF-8, by line and file offset.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    start = 0
    try:
        while chunk := raw.read(_CHUNK):
            decoder.decode(chunk)
            start += len(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        # The decoder keeps an unfinished sequence from the previous chunk before this one.
        offset = start - (len(exc.object) - len(chunk)) + exc.start
        raise _encoding_error(raw, offset, exc.object[exc.start]) from None
    finally:
        raw.seek(0)


def _encoding_error(raw: IO[bytes], offset: int, byte: int) -> CsvNotUtf8:
    """The refusal of a file whose byte at `offset` is not UTF-8."""
    raw.seek(0)
    line, left, previous = 1, offset, b""
    while left > 0 and (chunk := raw.read(min(_CHUNK, left))):
        # Lines end as the CSV reader ends them: \r\n, \n or \r.
        line += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
        if previous == b"\r" and chunk[:1] == b"\n":
            line -= 1  # a \r\n split between two chunks
        previous, left = chunk[-1:], left - len(chunk)
    return CsvNotUtf8(
        f"the file is not UTF-8: line {line} has the byte 0x{byte:02X} (byte {offset + 1} of "
        'the file); save it as UTF-8 ("CSV UTF-8") and import it again'
    )


def _records(
    text: io.TextIOWrapper,
) -> tuple[list[str] | None, Iterator[tuple[int, list[str] | _Unreadable]]]:
    """The header, then (first line, cells) of every non-blank record.

    Raises:
        CsvRefused: the header row cannot be read as CSV.
    """
    # Strict: a quote never closed, or text after a closing quote, is an error to report, not
    # a cell silently holding the rest of the file or a quote dropped from the text.
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise CsvRefused(f"the header row cannot be read as CSV: {_why(exc)}") from None

    def records() -> Iterator[tuple[int, list[str] | _Unreadable]]:
        while True:
            # Each record starts on the line after the previous one ended (a blank line is a
            # record too, with no cells): counting the line breaks inside its cells instead
            # misses the last one of a quoted cell still open at the end of the file.
            line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                # The reader drops what it read of the record and goes on with the next line.
                end = reader.line_num
                lines = f"line {line}" if end <= line else f"lines {line}-{end}"
                yield line, _Unreadable(f"{lines} cannot be read as CSV: {_why(exc)}")
                continue
            except UnicodeDecodeError:
                # Checked before reading: the file changed since.
                raise CsvNotUtf8(
                    f"the file is not UTF-8 from line {line} on (it changed during the import)"
                ) from None
            if cells:
                yield line, cells

    return header, records()


def _why(exc: csv.Error) -> str:
    """The reader's refusal in our words (its own are terse: "unexpected end of data")."""
    text = str(exc)
    if "unexpected end of data" in text:
        return "a quote opened in this record is never closed (the file ends inside it)"
    if "expected after" in text:
        return 'text follows a closing quote; a quote inside a quoted cell must be doubled ("")'
    if "field larger than field limit" in text:
        return (
            f"a cell is longer than the field limit of {csv.field_size_limit():,} characters "
            "(a quote left open?)"
        )
    if "NUL" in text:
        return "the record holds a NUL character"
    return "the record is not valid CSV"


async def import_csv(
    db: Database,
    settings: Settings,
    path: Path,
    campaign_ref: str,
    *,
    create: bool = False,
    on_bytes: Callable[[int], None] | None = None,
    rejects_path: Path | None = None,
    workers: int | None = None,
) -> ImportSummary:
    """Import `path` into the campaign `campaign_ref` (its name or id).

    Args:
        db: the database.
        settings: agents, personas, secret keys, context variables.
        path: the CSV file (UTF-8, header row first).
        campaign_ref: the campaign to import into.
        create: create the campaign (named `campaign_ref`, from the settings' defaults) when
            there is none; it is stored only once the file's encoding and header are known good.
        on_bytes: called with the bytes consumed, for a progress bar.
        rejects_path: where to write refused rows (nothing is written when all are good).
        workers: validation processes (default: some for large files, none for small ones).

    Raises:
        NotFound: no such campaign and `create` is false (nothing is stored).
        ValidationFailed: `create` and the name is not a valid campaign name.
        CsvNotUtf8: the file is not UTF-8 (nothing is stored).
        CsvRefused: the header is missing or lacks a required column.
    """
    campaign = await _campaign(db, settings, campaign_ref, create)
    rules = RowRules.for_campaign(settings, campaign.agent_id, policy_of(campaign.config))
    box = SecretBox([k.get_secret_value() for k in settings.secret_keys])
    with ExitStack() as stack:
        raw = stack.enter_context(path.open("rb"))
        _check_utf8(raw)
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        header, records = _records(text)
        if header is None:
            raise CsvRefused("the file is empty or has no header row")
        size = os.fstat(raw.fileno()).st_size
        validator = Validator(header, rules, worker_count(size, workers))
        created = campaign.id is None
        if created:
            async with db.session() as session:
                campaign = await campaigns.create_campaign(
                    session,
                    campaign.name,
                    agent_id=campaign.agent_id,
                    phone_number_id=campaign.phone_number_id,
                    phone_number_kind=campaign.phone_number_kind,
                    weight=campaign.weight,
                    config=campaign.config,
                )
        run = _Run(db, campaign, box, validator, _Rejects(rejects_path, header, stack))
        run.summary.created_campaign = created
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


async def _campaign(db: Database, settings: Settings, ref: str, create: bool) -> Campaign:
    """The stored campaign `ref`; with `create`, a new one not stored yet (its id is None).

    Raises:
        NotFound: no such campaign and not `create`.
        ValidationFailed: the new campaign's name is refused.
    """
    async with db.session() as session:
        try:
            return await campaigns.get_by_ref(session, ref)
        except NotFound:
            if not create:
                raise NotFound("campaign", ref) from None
    name, columns, config = resolve_create({"name": ref}, settings)
    return Campaign(name=name, config=config, **columns)


#: A batch on its way: the records' first lines, their cells, the problems of those refused
#: while reading (by position in the batch; not validated), the validation results of the rest.
_Batch = tuple[
    list[int], list[list[str]], dict[int, list[tuple[str, str]]], "asyncio.Future[list[Checked]]"
]


def _merged(checked: list[Checked], unread: dict[int, list[tuple[str, str]]]) -> list[Checked]:
    """The results of a whole batch: those validated, with the unread records in their places."""
    if not unread:
        return checked
    rest = iter(checked)
    return [unread[i] if i in unread else next(rest) for i in range(len(checked) + len(unread))]


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
        records: Iterator[tuple[int, list[str] | _Unreadable]],
        raw: io.BufferedReader,
        on_bytes: Callable[[int], None] | None,
    ) -> None:
        """Validate and store every record, reporting progress per stored batch."""
        lines: list[int] = []
        batch: list[list[str]] = []
        unread: dict[int, list[tuple[str, str]]] = {}
        for line, cells in records:
            self.summary.rows += 1
            lines.append(line)
            if isinstance(cells, _Unreadable):
                unread[len(batch)] = [("(row)", cells.reason)]
                batch.append([])
            else:
                batch.append(cells)
            if len(batch) >= BATCH:
                await self._submit(lines, batch, unread)
                lines, batch, unread = [], [], {}
                # Keep each worker busy with one batch while this process writes another.
                while len(self._inflight) > self.validator.workers:
                    await self._drain(raw, on_bytes)
        if batch:
            await self._submit(lines, batch, unread)
        while self._inflight:
            await self._drain(raw, on_bytes)

    async def _submit(
        self, lines: list[int], batch: list[list[str]], unread: dict[int, list[tuple[str, str]]]
    ) -> None:
        readable = [cells for i, cells in enumerate(batch) if i not in unread] if unread else batch
        self._inflight.append((lines, batch, unread, await self.validator.submit(readable)))

    async def _drain(self, raw: io.BufferedReader, on_bytes: Callable[[int], None] | None) -> None:
        lines, cells, unread, future = self._inflight.popleft()
        good: list[ContactRow] = []
        #: Where each external id's last good row stands, to report it if storing refuses it.
        where: dict[str, tuple[int, list[str]]] = {}
        checked_batch = _merged(await future, unread)
        for line, row_cells, checked in zip(lines, cells, checked_batch, strict=True):
            if isinstance(checked, ContactRow):
                good.append(checked)
                where[checked.external_id] = (line, row_cells)
            else:
                self._reject(line, checked, row_cells)
        await self._store(good, where)
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

    async def _store(self, rows: list[ContactRow], where: dict[str, tuple[int, list[str]]]) -> None:
        """Upsert one batch in one transaction and count the results."""
        if not rows:
            return
        async with self.db.session() as session:
            done = await upsert_batch(
                session, self.campaign, rows, self.box, sealing=self.validator.parser.has_secrets
            )
        for item in done:
            if item.result is RowResult.REJECTED:
                line, cells = where[item.external_id]
                self._reject(line, list(item.problems), cells)
            else:
                self.summary.count(item.result)
        # Duplicates inside one batch fold into one contact: count the folded rows as unchanged.
        self.summary.unchanged += len(rows) - len({r.external_id for r in rows})
