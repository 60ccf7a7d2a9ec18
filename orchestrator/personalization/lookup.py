"""The webhook's hot path: one Redis GET, the database within a budget, else the defaults.

The answer for a known caller is precomputed (see `refresher`), so a hit is a GET and the
stored bytes. A miss — an unknown caller, or a contact the refresher has not reached yet — asks
the database within `personalization_budget_secs`. Past the budget, on any error, or with
Redis down, the agent's defaults answer: they are built at start-up, so even with Redis and the
database both gone the call still gets every variable its agent defines. Nothing read from a
request is ever written back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
import structlog
from prometheus_client import CollectorRegistry

from orchestrator import keys
from orchestrator.domain.campaign_policy import CampaignPolicy, policy_of
from orchestrator.metrics.personalization import PersonalizationMetrics
from orchestrator.personalization import records, source
from orchestrator.personalization.builder import contact_answer, unknown_answer
from orchestrator.personalization.record_reader import RecordReader
from orchestrator.personalization.request import known_agents
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store.engine import Database

log = structlog.get_logger(__name__)

#: Database lookups in flight at once (the SQLite read pool keeps 4 connections).
_DATABASE_LOOKUPS = 3


class Personalizer:
    """Answers (agent, caller) with JSON bytes; never raises."""

    def __init__(
        self,
        settings: Settings,
        redis: RecordReader,
        db: Database,
        box: SecretBox,
        metrics: PersonalizationMetrics,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.db = db
        self.box = box
        self.metrics = metrics
        self.budget = settings.personalization_budget_secs
        # Fewer lookups at once than the read pool holds: past its size, SQLite's pool opens
        # and closes overflow connections (a thread and a file open each), which under a burst
        # of unknown callers costs more than the queries. Waiting here counts in the budget.
        self._database_slots = asyncio.Semaphore(_DATABASE_LOOKUPS)
        self.probe = source.ContactProbe(db, timeout=self.budget)
        self.defaults = {
            agent: orjson.dumps(unknown_answer(settings, agent)) for agent in known_agents(settings)
        }

    @classmethod
    def open(
        cls, settings: Settings, db: Database, box: SecretBox, registry: CollectorRegistry
    ) -> Personalizer:
        """A personalizer with its own Redis connection, whose timeouts are the budget."""
        redis = RecordReader(settings.redis_url, timeout=settings.personalization_budget_secs)
        return cls(settings, redis, db, box, PersonalizationMetrics(registry))

    async def close(self) -> None:
        """Close the Redis connection and the probe's."""
        await self.redis.close()
        self.probe.close()

    def defaults_for(self, agent_id: str) -> bytes:
        """The unknown caller's answer for `agent_id` (built at start-up)."""
        found = self.defaults.get(agent_id)
        return found if found is not None else self.defaults[self.settings.agent_id]

    async def answer(
        self, agent_id: str, caller: str, *, before_database: Callable[[str], None] | None = None
    ) -> bytes:
        """The answer for `caller` calling `agent_id`.

        Args:
            agent_id: The agent called.
            caller: The caller's number (E.164).
            before_database: Called with `caller` on a miss, before the database is asked; what
                it raises (the request's refusal) is not caught.
        """
        try:
            record = await self.redis.get(keys.personalization_record(agent_id, caller))
        except Exception as exc:
            if before_database is not None:
                before_database(caller)  # a bad number is refused, Redis or not
            self.metrics.fallback["redis"].inc()
            log.warning("personalization.redis_failed", error=type(exc).__name__)
            return self.defaults_for(agent_id)
        if record is not None:
            self.metrics.hits.inc()
            try:
                return records.decode(record, self.box)
            except Exception as exc:
                self.metrics.fallback["record"].inc()
                log.warning("personalization.record_unreadable", error=str(exc))
                return self.defaults_for(agent_id)
        if before_database is not None:
            before_database(caller)
        self.metrics.misses.inc()
        try:
            found = await asyncio.wait_for(self._from_database(agent_id, caller), self.budget)
        except TimeoutError:
            self.metrics.fallback["budget"].inc()
            return self.defaults_for(agent_id)
        except Exception as exc:
            self.metrics.fallback["database"].inc()
            log.warning("personalization.database_failed", error=type(exc).__name__)
            return self.defaults_for(agent_id)
        if found is None:
            self.metrics.unknown.inc()
            return self.defaults_for(agent_id)
        return found

    async def _from_database(self, agent_id: str, caller: str) -> bytes | None:
        """The answer built from the database (the refresher's rules), None for a stranger."""
        async with self._database_slots:
            # Most misses are strangers: a cheap probe first, the full read only for a contact.
            if not await self.probe.has_contact(caller, agent_id):
                return None
            async with self.db.quick() as s:
                found = (await source.best_contacts(s, [caller], [agent_id])).get(
                    (agent_id, caller)
                )
        if found is None:
            return None
        try:
            policy = policy_of(found.campaign.config)
        except ValueError:
            policy = CampaignPolicy()
        answer = contact_answer(
            self.settings, self.box, found.contact, found.campaign, policy, found.context
        )
        return orjson.dumps(answer)
