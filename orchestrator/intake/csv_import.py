"""Streaming CSV import: rows are read, validated and upserted in batches, never all at once.

Bad rows are reported (line, field, reason) and written to a rejects file; the valid rows are
imported regardless.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import ValidationFailed
from orchestrator.intake.rows import REQUIRED_COLUMNS, ContactRow, validate_row
from orchestrator.intake.upsert import RowResult, upsert_batch
from orchestrator.secretbox import SecretBox, SecretsUnavailable
from orchestrator.settings import Settings
from orchestrator.store import campaigns
from orchestrator.store.engine import Database

BATCH = 1000
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class RowError:
    """Why one line of the file was refused."""

    line: int
    field: str
    reason: str


@dataclass
class ImportSummary:
    """Counts of one import, plus the refused rows."""

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


class CsvHeaderError(ValueError):
    """The file cannot be imported at all (no header, required columns missing)."""


def _counting_lines(
    raw: io.BufferedReader, on_bytes: Callable[[int], None] | None
) -> Iterator[str]:
    """Lines of a UTF-8 file, reporting the bytes consumed (for the progress bar)."""
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    last = 0
    for line in text:
        if on_bytes is not None:
            pos = raw.tell()
            if pos != last:
                on_bytes(pos - last)
                last = pos
        yield line


def _rows(
    path: Path, on_bytes: Callable[[int], None] | None
) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open("rb") as raw:
        reader = csv.DictReader(_counting_lines(raw, on_bytes))
        header = reader.fieldnames
        if not header:
            raise CsvHeaderError("the file is empty or has no header row")
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise CsvHeaderError(f"missing required column(s): {', '.join(missing)}")
        for record in reader:
            extra = record.pop(None, None)  # type: ignore[call-overload,unused-ignore]
            # `line_num` is the record's last line: report the first, where a quoted cell
            # spanning lines begins.
            cells = [*record.values(), *(extra or [])]
            breaks = sum(len(_LINE_BREAK.findall(c)) for c in cells if isinstance(c, str))
            if extra:
                record["__extra__"] = "x"
            yield reader.line_num - breaks, record


async def import_csv(
    db: Database,
    settings: Settings,
    path: Path,
    campaign_name: str,
    *,
    on_bytes: Callable[[int], None] | None = None,
    rejects_path: Path | None = None,
) -> ImportSummary:
    """Import `path` into the campaign (created from defaults when missing).

    Raises:
        CsvHeaderError: the header is missing or lacks a required column.
    """
    box = SecretBox([k.get_secret_value() for k in settings.secret_keys])
    summary = ImportSummary()
    async with db.session() as session:
        campaign = await campaigns.get_or_create(session, campaign_name, settings)
    agent = settings.agent(campaign.agent_id)
    batch: list[ContactRow] = []

    async def flush() -> None:
        if not batch:
            return
        async with db.session() as session:
            for item in await upsert_batch(session, campaign, batch, box):
                if item.result is RowResult.ACCEPTED:
                    summary.accepted += 1
                elif item.result is RowResult.UPDATED:
                    summary.updated += 1
                else:
                    summary.unchanged += 1
        # Duplicates inside one batch fold into one contact: count the folded rows as unchanged.
        summary.unchanged += len(batch) - len({r.external_id for r in batch})
        batch.clear()

    for line, record in _rows(path, on_bytes):
        summary.rows += 1
        if record.pop("__extra__", None):
            summary.rejected += 1
            summary.errors.append(RowError(line, "(row)", "more cells than header columns"))
            continue
        try:
            row = validate_row(
                record, agent, default_region=settings.default_region, variables_from_text=True
            )
            box.seal(row.variables)
        except ValidationFailed as exc:
            summary.rejected += 1
            summary.errors.extend(RowError(line, f, r) for f, r in exc.problems)
            continue
        except SecretsUnavailable as exc:
            summary.rejected += 1
            summary.errors.append(RowError(line, "secret__", str(exc)))
            continue
        batch.append(row)
        if len(batch) >= BATCH:
            await flush()
    await flush()
    if summary.errors and rejects_path is not None:
        write_rejects(rejects_path, summary.errors)
        summary.rejects_path = rejects_path
    return summary


def write_rejects(path: Path, errors: list[RowError]) -> None:
    """Write refused rows as CSV: line, field, reason."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["line", "field", "reason"])
        for err in errors:
            writer.writerow([err.line, err.field, err.reason])
