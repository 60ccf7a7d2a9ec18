"""Live calls fall back to the database when Redis does not answer."""

from __future__ import annotations

from redis.asyncio import Redis

from orchestrator.reports.live import live_calls
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt
from tests.reports.conftest import Known
from tests.support.ports import free_port


async def test_unreachable_redis_means_database_counts(
    db: Database, settings: Settings, known: Known
) -> None:
    async with db.session() as s:
        for attempt in known.attempts[:2]:
            row = await s.get(Attempt, attempt.id)
            assert row is not None
            row.state = "in_progress"
            row.is_burst = attempt is known.attempts[0]
    dead: Redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    try:
        live = await live_calls(db, dead, settings)
    finally:
        await dead.aclose()
    assert live.source == "database"
    assert (live.in_flight, live.burst) == (2, 1)
    assert live.limit == settings.account_limit
    assert live.campaigns[0].contacts == 7
    assert live.campaigns[0].final == 6
