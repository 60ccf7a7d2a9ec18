"""Compare-and-set transitions of attempts: `UPDATE … WHERE state IN (:expected)`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.domain.attempt import AttemptState
from orchestrator.store.models import Attempt
from orchestrator.store.types import utcnow


async def transition(
    session: AsyncSession,
    attempt_id: int,
    expected: Iterable[AttemptState],
    new: AttemptState,
    **values: Any,
) -> bool:
    """Move one attempt to `new` only if it is in one of `expected`; True when it moved."""
    stmt = (
        update(Attempt)
        .where(col(Attempt.id) == attempt_id, col(Attempt.state).in_([s.value for s in expected]))
        .values(state=new.value, updated_at=utcnow(), **values)
    )
    result: Any = await session.exec(stmt)
    return int(result.rowcount) == 1


async def transition_many(
    session: AsyncSession,
    attempt_ids: list[int],
    expected: AttemptState,
    new: AttemptState,
    **values: Any,
) -> list[int]:
    """Move every attempt of `attempt_ids` still in `expected`; returns the ids that moved."""
    if not attempt_ids:
        return []
    stmt = (
        update(Attempt)
        .where(col(Attempt.id).in_(attempt_ids), col(Attempt.state) == expected.value)
        .values(state=new.value, updated_at=utcnow(), **values)
        .returning(col(Attempt.id))
    )
    result = await session.exec(stmt)
    return [int(r[0]) for r in result.all()]
