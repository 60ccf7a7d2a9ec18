"""Group commit: many pieces of work per transaction, each with its own result or error."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.store.engine import Database
from orchestrator.store.group_commit import GroupCommit
from orchestrator.store.models import DoNotCall


async def test_concurrent_work_shares_transactions_and_keeps_its_results(db: Database) -> None:
    commits = GroupCommit(db)
    transactions = 0
    begin = db.session

    def counting_session() -> object:
        nonlocal transactions
        transactions += 1
        return begin()

    db.session = counting_session  # type: ignore[method-assign]

    def add(i: int) -> object:
        async def work(s: AsyncSession) -> int:
            s.add(DoNotCall(phone_number=f"+1212736{i:04d}", reason="test"))
            await s.flush()
            return i * 10

        return work

    try:
        results = await asyncio.gather(*(commits.run(add(i)) for i in range(30)))  # type: ignore[arg-type]
    finally:
        db.session = begin  # type: ignore[method-assign]
        await commits.aclose()
    assert results == [i * 10 for i in range(30)]
    assert transactions < 30
    async with db.read() as s:
        assert len((await s.exec(select(DoNotCall))).all()) == 30


async def test_one_failing_piece_fails_alone(db: Database) -> None:
    commits = GroupCommit(db)

    async def good(s: AsyncSession) -> str:
        s.add(DoNotCall(phone_number="+12127360001", reason="ok"))
        await s.flush()
        return "ok"

    async def bad(s: AsyncSession) -> str:
        raise RuntimeError("broken work")

    try:
        outcome = await asyncio.gather(commits.run(good), commits.run(bad), return_exceptions=True)
    finally:
        await commits.aclose()
    assert outcome[0] == "ok"
    assert isinstance(outcome[1], RuntimeError)
    async with db.read() as s:
        assert [d.phone_number for d in (await s.exec(select(DoNotCall))).all()] == ["+12127360001"]


async def test_a_lone_failure_is_raised_to_its_caller(db: Database) -> None:
    commits = GroupCommit(db)

    async def bad(s: AsyncSession) -> None:
        raise ValueError("nope")

    try:
        with pytest.raises(ValueError, match="nope"):
            await commits.run(bad)
    finally:
        await commits.aclose()


async def test_a_batch_commits_when_its_time_budget_is_spent(db: Database) -> None:
    """Slow pieces are spread over several transactions; none is lost or run twice."""
    commits = GroupCommit(db, max_hold_secs=0.002)
    sessions: list[int] = []

    def slow(i: int) -> object:
        async def work(s: AsyncSession) -> int:
            time.sleep(0.003)  # work that holds the lock without yielding
            sessions.append(id(s))
            s.add(DoNotCall(phone_number=f"+1212737{i:04d}", reason="slow"))
            await s.flush()
            return i

        return work

    try:
        results = await asyncio.gather(*(commits.run(slow(i)) for i in range(6)))  # type: ignore[arg-type]
    finally:
        await commits.aclose()
    assert results == list(range(6))
    assert len(sessions) == 6  # each piece ran once
    assert len(set(sessions)) >= 3  # in several transactions, not one long one
    async with db.read() as s:
        assert len((await s.exec(select(DoNotCall))).all()) == 6


async def test_a_failure_after_the_budget_keeps_the_rest_pending(db: Database) -> None:
    commits = GroupCommit(db, max_hold_secs=0.0)

    def ok(i: int) -> object:
        async def work(s: AsyncSession) -> int:
            s.add(DoNotCall(phone_number=f"+1212738{i:04d}", reason="ok"))
            await s.flush()
            return i

        return work

    async def bad(s: AsyncSession) -> int:
        raise RuntimeError("broken work")

    try:
        outcome = await asyncio.gather(
            commits.run(ok(1)),  # type: ignore[arg-type]
            commits.run(bad),
            commits.run(ok(2)),  # type: ignore[arg-type]
            return_exceptions=True,
        )
    finally:
        await commits.aclose()
    assert outcome[0] == 1 and outcome[2] == 2
    assert isinstance(outcome[1], RuntimeError)
    async with db.read() as s:
        assert len((await s.exec(select(DoNotCall))).all()) == 2
