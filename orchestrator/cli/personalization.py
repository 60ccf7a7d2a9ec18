"""Inbound personalization: `personalization rebuild`."""

from __future__ import annotations

import asyncio

import typer

from orchestrator.cli.base import app, console, settings
from orchestrator.settings import Settings

personalization_app = typer.Typer(
    help="Precomputed answers of the inbound personalization webhook.", no_args_is_help=True
)
app.add_typer(personalization_app, name="personalization")


@personalization_app.command()
def rebuild() -> None:
    """Rebuild every precomputed answer now (workers also do it when the configuration changes)."""
    resolved = settings()
    written = asyncio.run(_rebuild(resolved))
    console.print(f"{written} personalization records written")


async def _rebuild(resolved: Settings) -> int:
    from orchestrator.personalization.refresher import Refresher
    from orchestrator.redis_conn import redis_client
    from orchestrator.secretbox import SecretBox
    from orchestrator.store.engine import Database

    db = Database(resolved.database_url)
    redis = redis_client(resolved.redis_url)
    box = SecretBox([k.get_secret_value() for k in resolved.secret_keys])
    try:
        return await Refresher(resolved, db, redis, box).rebuild()
    finally:
        await redis.aclose()
        await db.dispose()
