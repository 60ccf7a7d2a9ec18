"""`orchestrator sessions …`: the dashboard's signed-in browsers, listed and revoked."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from orchestrator.cli.base import app, console, fail, settings
from orchestrator.store.campaigns import MAX_ID
from orchestrator.store.engine import Database
from orchestrator.store.web_sessions import (
    list_sessions,
    revoke_for_token,
    revoke_session,
    session_status,
)

sessions_app = typer.Typer(
    help="Dashboard sign-in sessions: list, revoke (revoking a token ends its sessions too).",
    no_args_is_help=True,
)
app.add_typer(sessions_app, name="sessions")


@sessions_app.command("list")
def list_() -> None:
    """List sessions: who signed in with which token, when, and whether still live (no ids)."""
    resolved = settings()
    idle = timedelta(seconds=resolved.session_idle_secs)

    async def run() -> list[tuple[str, ...]]:
        db = Database(resolved.database_url)
        try:
            async with db.read() as s:
                return [
                    (
                        str(session.id),
                        f"{token.id} ({token.name})",
                        token.scope,
                        session.created_at.isoformat(timespec="seconds"),
                        session.last_seen_at.isoformat(timespec="seconds"),
                        session.expires_at.isoformat(timespec="seconds"),
                        session_status(session, token, idle),
                    )
                    for session, token in await list_sessions(s)
                ]
        finally:
            await db.dispose()

    table = Table(title="Dashboard sessions")
    for col in ("id", "token", "scope", "signed in", "last seen", "expires", "status"):
        table.add_column(col)
    for row in asyncio.run(run()):
        table.add_row(*row)
    console.print(table)


@sessions_app.command("revoke")
def revoke(
    session_id: Annotated[
        int | None, typer.Argument(help="The session's id", min=1, max=MAX_ID)
    ] = None,
    token: Annotated[
        int | None, typer.Option(help="End every session of this token id", min=1, max=MAX_ID)
    ] = None,
) -> None:
    """End a session at once (or every session signed in with `--token`)."""
    if (session_id is None) == (token is None):
        raise fail("name a session id, or --token TOKEN_ID (one of them)", 2)
    resolved = settings()

    async def run() -> int:
        db = Database(resolved.database_url)
        try:
            async with db.session() as s:
                if token is not None:
                    return await revoke_for_token(s, token)
                assert session_id is not None
                return int(await revoke_session(s, session_id))
        finally:
            await db.dispose()

    ended = asyncio.run(run())
    if token is not None:
        console.print(f"{ended} live session(s) of token {token} revoked")
    elif not ended:
        raise fail(f"no live session with id {session_id}")
    else:
        console.print(f"session {session_id} revoked")
