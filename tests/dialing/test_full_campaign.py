"""A campaign at its own limit never holds back the others (issue 13, finding 9).

Real redis-server, the sandbox, the real dispatcher and the real dial jobs: the jobs the dispatcher
puts in the arq queue are started in queue order, the way a worker would, and left running (the
ones that cannot take a slot wait for one). Progress is counted in dispatcher passes, not seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlmodel import select

from orchestrator.deps import Deps
from orchestrator.dev.sandbox.server import RunningSandbox
from orchestrator.dialing.dial import DialResultKind, dial_attempt
from orchestrator.scheduling.dispatcher import dispatch_once
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt
from tests.dialing.conftest import StackFactory, sandbox_dials, sandbox_summary
from tests.dialing.test_dial import LONG_CALLS
from tests.support.factories import make_campaign, make_contact

ZONE = "America/New_York"


class Runner:
    """Starts the dial jobs found in the arq queue, in queue order, each once (a worker's part)."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self.tasks: dict[int, asyncio.Task[DialResultKind]] = {}

    async def start_queued(self) -> list[int]:
        """Start every job not started yet; returns their attempt ids in queue order."""
        raw = await self._deps.redis.zrange(self._deps.settings.queue_name, 0, -1)
        started = []
        for job in raw:
            job_id = job.decode() if isinstance(job, bytes) else str(job)
            attempt_id = int(job_id.split(":")[1])
            if attempt_id not in self.tasks:
                task = asyncio.create_task(dial_attempt(self._deps, attempt_id))
                self.tasks[attempt_id] = task
                started.append(attempt_id)
        return started

    async def aclose(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)


@contextlib.asynccontextmanager
async def runner(deps: Deps) -> AsyncIterator[Runner]:
    run = Runner(deps)
    try:
        yield run
    finally:
        await run.aclose()


async def state(db: Database, attempt_id: int) -> str:
    async with db.read() as s:
        row = (await s.exec(select(Attempt.state).where(Attempt.id == attempt_id))).one()
    return str(row)


async def live_calls(sb: RunningSandbox, want: int) -> int:
    """Wait (a bounded number of looks) until the sandbox has `want` live calls."""
    live = -1
    for _ in range(200):
        live = int((await sandbox_summary(sb))["live"])
        if live >= want:
            break
        await asyncio.sleep(0.02)
    return live


async def test_a_full_campaign_does_not_hold_back_one_that_opens_later(
    db: Database, stack: StackFactory
) -> None:
    full = await make_campaign(db, "full", config={"max_concurrency": 2})
    for i in range(40):
        await make_contact(db, full, f"a{i}", f"+1212736{i:04d}", timezone=ZONE)
    async with stack(**LONG_CALLS) as (deps, sb), runner(deps) as jobs:
        await dispatch_once(deps)
        await jobs.start_queued()
        # The full campaign's two calls are live and last far longer than this test.
        assert await live_calls(sb, 2) == 2

        late = await make_campaign(db, "late")
        _, first = await make_contact(db, late, "b0", "+12127370000", timezone=ZONE)
        assert first is not None and first.id is not None
        passes = 0
        while await state(db, first.id) == "scheduled" and passes < 3:
            await dispatch_once(deps)
            passes += 1
        assert passes == 1, "the late campaign's attempt waited behind the full campaign's"
        assert first.id in await jobs.start_queued()
        assert await jobs.tasks[first.id] is DialResultKind.INITIATED

        dials = await sandbox_dials(sb)
        summary = await sandbox_summary(sb)
    late_dial = next(d for d in dials if d["to_number"] == "+12127370000")
    full_dials = [d for d in dials if d is not late_dial]
    # Dialled while the full campaign's calls were still live, none of them refused.
    assert len(full_dials) == 2
    assert all(d["ended_at"] is None for d in full_dials)
    assert summary["rejected_concurrency"] == 0


async def test_redis_holds_no_more_of_a_capped_campaign_than_it_can_start_soon(
    db: Database, stack: StackFactory
) -> None:
    full = await make_campaign(db, "full", config={"max_concurrency": 2})
    for i in range(40):
        await make_contact(db, full, f"a{i}", f"+1212736{i:04d}", timezone=ZONE)
    async with stack(**LONG_CALLS) as (deps, sb), runner(deps) as jobs:
        dispatched = await dispatch_once(deps)
        await jobs.start_queued()
        assert await live_calls(sb, 2) == 2
        # Its two calls are live and nothing ended: another pass adds nothing.
        again = await dispatch_once(deps)
    # Two to take its slots and two waiting to take the next ones as they free.
    assert dispatched == 4
    assert again == 0
