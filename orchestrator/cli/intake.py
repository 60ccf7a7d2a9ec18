"""`orchestrator contacts …`: bringing contacts in."""

from __future__ import annotations

import asyncio
import difflib
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from orchestrator.cli.base import app, console, err, fail, settings
from orchestrator.errors import NotFound, OrchestratorError, ValidationFailed

if TYPE_CHECKING:
    from orchestrator.intake.csv_import import ImportSummary
    from orchestrator.settings import Settings

contacts_app = typer.Typer(
    help="Contacts: import from CSV; re-encrypt secrets after a key rotation.",
    no_args_is_help=True,
)
app.add_typer(contacts_app, name="contacts")


@contacts_app.command("import")
def contacts_import(
    file: Annotated[Path, typer.Argument(help="CSV with external_id, phone_number, ...")],
    campaign: Annotated[str, typer.Option("--campaign", "-c", help="Campaign name or id")],
    rejects: Annotated[
        Path | None, typer.Option(help="Where to write refused rows (default: FILE.rejects.csv)")
    ] = None,
    create: Annotated[
        bool,
        typer.Option(
            "--create",
            help="Create the campaign when there is none by that name (default agent and "
            "number, active: its contacts are called)",
        ),
    ] = False,
) -> None:
    """Import contacts into an existing campaign; bad rows are reported (line, field, reason)
    and the rest imported. A campaign that does not exist is an error unless --create."""
    from orchestrator.intake.csv_import import CsvRefused, import_csv
    from orchestrator.store.engine import Database

    if not file.is_file():
        raise fail(f"no such file: {file}")
    resolved = settings()
    rejects_path = rejects or file.with_suffix(".rejects.csv")

    async def run() -> ImportSummary:
        db = Database(resolved.database_url)
        try:
            with Progress(
                TextColumn("importing"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            ) as progress:
                task = progress.add_task("import", total=file.stat().st_size)
                return await import_csv(
                    db,
                    resolved,
                    file,
                    campaign,
                    create=create,
                    on_bytes=lambda n: progress.advance(task, n),
                    rejects_path=rejects_path,
                )
        finally:
            await db.dispose()

    try:
        summary = asyncio.run(run())
    except CsvRefused as exc:
        raise fail(f"{file}: {exc}") from None
    except NotFound:
        raise fail(_no_campaign(resolved, campaign)) from None
    except ValidationFailed as exc:
        problems = "\n".join(f"  {field}: {reason}" for field, reason in exc.problems)
        raise fail(f"cannot create campaign {campaign!r}:\n{problems}", 2) from None
    except OrchestratorError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        # The file, or the rejects file: unreadable, unwritable, a folder, a full disk...
        where = exc.filename or file
        raise fail(f"{where}: cannot be read or written ({exc.strerror or exc})") from None
    if summary.created_campaign:
        console.print(
            f"created campaign {campaign!r} (agent {resolved.agent_id}, number "
            f"{resolved.phone_number_id}, active); change it with `orchestrator campaigns "
            "update`"
        )
    _print_summary(summary, campaign)
    if summary.imported == 0:
        raise fail("nothing could be imported")


def _print_summary(summary: ImportSummary, campaign: str) -> None:
    """The counts of an import, then its first refused rows."""
    table = Table(title=f"Import into {campaign!r}")
    for col in ("rows", "accepted", "updated", "unchanged", "rejected"):
        table.add_column(col, justify="right")
    table.add_row(
        *(
            str(getattr(summary, c))
            for c in ("rows", "accepted", "updated", "unchanged", "rejected")
        )
    )
    console.print(table)
    if summary.errors:
        shown = Table(title="PersonalizationRefused rows (first 20)")
        for col in ("line", "field", "reason"):
            shown.add_column(col)
        for e in summary.errors[:20]:
            shown.add_row(str(e.line), e.field, e.reason)
        console.print(shown)
        console.print(f"all refused rows: {summary.rejects_path}")


def _no_campaign(resolved: Settings, name: str) -> str:
    """Why an import found no campaign, with the names it may have meant and how to create it."""
    from orchestrator.store import campaigns
    from orchestrator.store.engine import Database

    async def names() -> list[str]:
        db = Database(resolved.database_url)
        try:
            async with db.session() as s:
                return [c.name for c in await campaigns.list_campaigns(s)]
        finally:
            await db.dispose()

    close = difflib.get_close_matches(name, asyncio.run(names()), n=3)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    create = f"orchestrator campaigns create {shlex.quote(name)}"
    return (
        f"no campaign {name!r}{hint}; nothing was imported. Create it first with `{create}`, "
        "or import with --create to create it with the default agent and number"
    )


@contacts_app.command("reseal")
def contacts_reseal() -> None:
    """Re-encrypt every stored secret__ value with the newest key of ORCH_SECRET_KEYS.

    Rotation: prepend a new key to ORCH_SECRET_KEYS, run this, then drop the old key.
    """
    from orchestrator.intake.reseal import Resealed, reseal_all
    from orchestrator.secretbox import SecretBox
    from orchestrator.store.engine import Database

    resolved = settings()
    if not resolved.secret_keys:
        raise fail("ORCH_SECRET_KEYS is empty: there is no key to re-encrypt with", 2)
    box = SecretBox([k.get_secret_value() for k in resolved.secret_keys])

    async def run() -> Resealed:
        db = Database(resolved.database_url)
        try:
            return await reseal_all(db, box)
        finally:
            await db.dispose()

    try:
        done = asyncio.run(run())
    except OrchestratorError as exc:
        raise fail(str(exc)) from None
    console.print(
        f"re-encrypted the secrets of {done.contacts} contacts and {done.attempts} waiting calls"
    )
