"""Re-encrypting every stored `secret__` value with the newest key (the middle step of a key
rotation): contacts' variables and the per-call values of attempts.

Walks the tables by primary key in batches, one transaction per batch, so it can run while the
system works and be run again after an interruption (a value already sealed with the newest key
is simply sealed again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlmodel import SQLModel

from orchestrator.secretbox import SecretBox
from orchestrator.store.engine import Database

BATCH = 1000
CONTACT = SQLModel.metadata.tables["contact"]
ATTEMPT = SQLModel.metadata.tables["attempt"]

#: A stored JSON value → the same re-encrypted, or None when it holds nothing sealed.
Resealer = Callable[[Any], dict[str, Any] | None]


@dataclass
class Resealed:
    """How many rows had their secrets re-encrypted."""

    contacts: int = 0
    attempts: int = 0


async def reseal_all(db: Database, box: SecretBox) -> Resealed:
    """Re-encrypt every sealed value with the first configured key.

    Raises:
        SecretsUnavailable: a value that no configured key opens (drop no key before this runs).
    """

    def call_data(data: Any) -> dict[str, Any] | None:
        sealed = box.reseal((data or {}).get("variables") or {})
        return None if sealed is None else {**data, "variables": sealed}

    return Resealed(
        contacts=await _walk(db, CONTACT, "variables", lambda v: box.reseal(v or {})),
        attempts=await _walk(db, ATTEMPT, "call_data", call_data),
    )


async def _walk(db: Database, table: Table, column: str, reseal: Resealer) -> int:
    """Apply `reseal` to `column` of every row, a batch per transaction; rows changed."""
    changed = 0
    last = 0
    key, value = table.c.id, table.c[column]
    while True:
        async with db.session() as s:
            conn = await s.connection()
            rows = (
                await conn.execute(select(key, value).where(key > last).order_by(key).limit(BATCH))
            ).all()
            changes = [
                {"_id": row_id, "_value": new}
                for row_id, stored in rows
                if (new := reseal(stored)) is not None
            ]
            if changes:
                await conn.execute(
                    update(table)
                    .where(key == bindparam("_id"))
                    .values({column: bindparam("_value")}),
                    changes,
                )
        changed += len(changes)
        if len(rows) < BATCH:
            return changed
        last = rows[-1][0]
