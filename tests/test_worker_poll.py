"""The worker survives Redis dropping its connection while arq claims a job."""

from __future__ import annotations

from typing import Any

import pytest
from arq.worker import Worker
from redis.exceptions import WatchError

from jobs.worker import make_worker
from orchestrator.settings import Settings


async def test_a_dropped_connection_gives_the_slot_back_and_leaves_jobs_queued(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = make_worker(settings)
    claimed: list[bytes] = []

    async def arq_start_jobs(self: Any, job_ids: list[bytes]) -> None:
        # What arq does: take a slot, count the job, then talk to Redis, which fails here
        # for the second job (arq would raise this WatchError out of its poll loop).
        for job_id in job_ids:
            await self.sem.acquire()
            self.job_counter += 1
            if job_id == b"second":
                raise WatchError("A ConnectionError occurred on while watching one or more keys")
            claimed.append(job_id)

    monkeypatch.setattr(Worker, "start_jobs", arq_start_jobs)
    free_before = worker.sem._value

    await worker.start_jobs([b"first", b"second", b"third"])

    assert claimed == [b"first"]  # "third" stays queued for the next poll
    assert worker.job_counter == 1  # only the job really started counts
    assert worker.sem._value == free_before - 1


async def test_other_errors_still_surface(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = make_worker(settings)

    async def broken(self: Any, job_ids: list[bytes]) -> None:
        raise RuntimeError("a bug, not an outage")

    monkeypatch.setattr(Worker, "start_jobs", broken)
    with pytest.raises(RuntimeError):
        await worker.start_jobs([b"first"])
