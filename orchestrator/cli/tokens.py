"""`orchestrator tokens …`: API tokens for the CRM and supervisors."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from orchestrator.cli.base import app, console, fail, settings
from orchestrator.store.campaigns import MAX_ID
from orchestrator.store.engine import Database
from orchestrator.store.tokens import IssuedToken, create_token, list_tokens, revoke_token

tokens_app = typer.Typer(help="API tokens (scopes: crm, supervisor).", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")


@tokens_app.command("create")
def create(
    scope: Annotated[str, typer.Option(help="crm (write) or supervisor (read reports)")],
    name: Annotated[str, typer.Option(help="What the token is for")] = "api",
) -> None:
    """Create a token; it is printed once and only its hash is kept."""
    resolved = settings()

    async def run() -> IssuedToken:
        db = Database(resolved.database_url)
        try:
            async with db.session() as s:
                return await create_token(s, name, scope)
        finally:
            await db.dispose()

    try:
        issued = asyncio.run(run())
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    console.print(
        f"token {issued.id} ({issued.scope}, {issued.name}) — store it now, it is not shown again:"
    )
    print(issued.secret)


@tokens_app.command("list")
def list_() -> None:
    """List tokens (never their secrets)."""
    resolved = settings()

    async def run() -> list[tuple[int, str, str, str, str]]:
        db = Database(resolved.database_url)
        try:
            async with db.session() as s:
                return [
                    (
                        t.id or 0,
                        t.name,
                        t.scope,
                        t.prefix + "…",
                        "revoked" if t.revoked_at else "active",
                    )
                    for t in await list_tokens(s)
                ]
        finally:
            await db.dispose()

    table = Table(title="API tokens")
    for col in ("id", "name", "scope", "prefix", "status"):
        table.add_column(col)
    for row in asyncio.run(run()):
        table.add_row(str(row[0]), *row[1:])
    console.print(table)


@tokens_app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id", min=1, max=MAX_ID)],
) -> None:
    """Revoke a token at once."""
    resolved = settings()

    async def run() -> bool:
        db = Database(resolved.database_url)
        try:
            async with db.session() as s:
                return await revoke_token(s, token_id)
        finally:
            await db.dispose()

    if not asyncio.run(run()):
        raise fail(f"no live token with id {token_id}")
    console.print(f"token {token_id} revoked")
