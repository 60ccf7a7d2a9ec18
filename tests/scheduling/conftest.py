"""Dependencies for scheduling tests: fakeredis, a recording arq queue, a pinned calendar."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.deps import Deps, build_deps, close_deps
from orchestrator.domain.calendar import Calendar
from orchestrator.settings import Settings
from orchestrator.store.engine import Database

#: Tuesday 2025-03-04, 11:00 in Los Angeles, 14:00 in New York, 19:00 in London.
TUESDAY_MIDDAY = datetime(2025, 3, 4, 19, 0, tzinfo=UTC)
#: Tuesday 2025-03-04, 23:00 in New York: every US window is closed.
TUESDAY_NIGHT = datetime(2025, 3, 5, 4, 0, tzinfo=UTC)


@dataclass
class RecordingQueue:
    """Stands in for arq: records enqueued jobs; an id seen before is refused, like arq."""

    jobs: list[tuple[str, tuple[Any, ...], str]] = field(default_factory=list)

    async def enqueue_job(self, name: str, *args: Any, _job_id: str, **_: Any) -> object | None:
        if any(job_id == _job_id for _, _, job_id in self.jobs):
            return None
        self.jobs.append((name, args, _job_id))
        return object()


DepsFactory = Callable[..., Deps]


@pytest.fixture
async def make_deps(
    settings: Settings, db: Database, fake_redis: Any
) -> AsyncIterator[Callable[..., Deps]]:
    """Build `Deps` on fakeredis with the calendar pinned at `at` (default: Tuesday midday)."""
    built: list[Deps] = []

    def make(at: datetime = TUESDAY_MIDDAY, **overrides: Any) -> Deps:
        resolved = settings.model_copy(update=overrides)
        deps = build_deps(resolved, fake_redis, queue=RecordingQueue())
        # A calendar frozen in the past but running at real speed: tests read a fixed hour.
        deps.calendar = Calendar(start=at, anchor=deps.clock())
        built.append(deps)
        return deps

    yield make
    for deps in built:
        await close_deps(deps)
