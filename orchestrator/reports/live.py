"""What is happening now: calls in flight against the limit (burst apart), campaigns' progress.

Calls in flight are the account scope's live leases in Redis, which is what the limiter counts;
burst ones are those also in the burst-marks set. When Redis does not answer, the database's
live attempts stand in (`source` says which).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlmodel import col

from orchestrator import keys
from orchestrator.limiter.scopes import account_scope, burst_cap
from orchestrator.limiter.slots import SlotLimiter
from orchestrator.reports.counts import FINAL
from orchestrator.reports.filters import LIVE
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Campaign, Contact

log = structlog.get_logger(__name__)

#: Seconds to wait for Redis before counting live calls from the database.
REDIS_WAIT = 1.0


@dataclass
class CampaignProgress:
    """One campaign's contacts, how many are final, and its calls in flight."""

    name: str
    status: str
    contacts: int = 0
    final: int = 0
    live: int = 0
    live_burst: int = 0

    @property
    def progress(self) -> float:
        """Final contacts ÷ contacts."""
        return round(self.final / self.contacts, 4) if self.contacts else 0.0


@dataclass
class LiveCalls:
    """Calls in flight now, against the account's limit and burst cap."""

    in_flight: int
    burst: int
    limit: int
    burst_cap: int
    source: str
    campaigns: list[CampaignProgress] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        data = asdict(self)
        for row, campaign in zip(data["campaigns"], self.campaigns, strict=True):
            row["progress"] = campaign.progress
        return data


async def _from_redis(redis: Redis, settings: Settings) -> tuple[int, int]:
    holders = await SlotLimiter(redis).holders(account_scope(settings), now=time.time())
    if not holders:
        return 0, 0
    pending: Any = redis.smismember(keys.burst_marks(), holders)
    marked: list[int] = await pending
    return len(holders), sum(1 for m in marked if m)


async def live_calls(db: Database, redis: Redis | None, settings: Settings) -> LiveCalls:
    """Calls in flight and every campaign's progress."""
    async with db.read() as s:
        by_contacts: Any = select(
            col(Contact.campaign_id), col(Contact.disposition), func.count()
        ).group_by(col(Contact.campaign_id), col(Contact.disposition))
        by_live: Any = (
            select(
                col(Attempt.campaign_id), func.count(), func.count().filter(col(Attempt.is_burst))
            )
            .where(col(Attempt.state).in_(LIVE))
            .group_by(col(Attempt.campaign_id))
        )
        names: Any = select(col(Campaign.id), col(Campaign.name), col(Campaign.status)).order_by(
            col(Campaign.id)
        )
        rows = {
            cid: CampaignProgress(name, status) for cid, name, status in (await s.exec(names)).all()
        }
        for cid, disposition, count in (await s.exec(by_contacts)).all():
            row = rows[cid]
            row.contacts += count
            if disposition in FINAL:
                row.final += count
        for cid, count, burst in (await s.exec(by_live)).all():
            rows[cid].live, rows[cid].live_burst = count, burst
    in_flight = sum(r.live for r in rows.values())
    burst = sum(r.live_burst for r in rows.values())
    source = "database"
    if redis is not None:
        try:
            # A Redis that does not answer must not hold up the page: the database stands in.
            in_flight, burst = await asyncio.wait_for(_from_redis(redis, settings), REDIS_WAIT)
            source = "redis"
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("reports.live.redis_unavailable", error=str(exc))
    return LiveCalls(
        in_flight=in_flight,
        burst=burst,
        limit=settings.account_limit,
        burst_cap=burst_cap(settings),
        source=source,
        campaigns=list(rows.values()),
    )
