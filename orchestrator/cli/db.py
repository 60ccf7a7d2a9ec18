"""`orchestrator db …`: the database schema."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from orchestrator.cli.base import app, console, fail, settings

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations to the configured database."""
    from orchestrator.store.migrate import upgrade

    resolved = settings()
    if resolved.database_url.startswith("sqlite"):
        path = resolved.database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(upgrade(resolved.database_url, revision))
    except Exception as exc:
        raise fail(f"migration failed: {exc}") from None
    console.print(f"database at revision {revision}")
