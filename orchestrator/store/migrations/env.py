"""Alembic environment: runs on a connection handed over by `store/migrate.py`, or its own."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlmodel import SQLModel

import orchestrator.store.models  # noqa: F401  (registers the tables)
from orchestrator.store.engine import make_engine

config = context.config
target_metadata = SQLModel.metadata


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
elif (conn := config.attributes.get("connection")) is not None:
    _run(conn)
else:
    asyncio.run(_run_async())
