"""Keeps the precomputed answers fresh: changed rows are found by `updated_at`, not by hooks.

Every writer of contacts, contexts (a call's outcome) and campaigns already stamps `updated_at`,
so a worker loop reads what changed since a watermark kept in Redis and rewrites the records of
the numbers involved — no writer has to know about personalization. Rows are read only once they
are `settle` seconds old, so a transaction that committed a little after stamping its rows is not
skipped. A record a change left behind (the contact's number or its campaign's agent changed) is
found through an index (contact id → record key) and deleted when nobody answers for it any more.

A full rebuild (`orchestrator personalization rebuild`, or whenever the hash of the agents,
personas, context settings and keys changes) walks every number and removes orphan records.
One refresher runs at a time across workers (a Redis lock).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis

from orchestrator import keys, metrics
from orchestrator.domain.campaign_policy import CampaignPolicy, policy_of
from orchestrator.domain.text import shown
from orchestrator.personalization import records, source
from orchestrator.personalization.builder import contact_answer
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store.engine import Database

log = structlog.get_logger(__name__)

#: Bump when the record format or the builder's rules change: every record is rebuilt.
FORMAT_VERSION = 1
#: Tables whose changes are followed, with the reader of each.
_TABLES: dict[str, Callable[..., Awaitable[list[source.Change]]]] = {
    "contact": source.changed_contacts,
    "context": source.changed_contexts,
    "campaign": source.changed_campaigns,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Counter of records that could not be built or stored (`orchestrator_events` in /metrics).
SKIPPED = "personalization_skipped_total"
_LOCK_MS = 120_000


def config_hash(settings: Settings) -> str:
    """What the records depend on besides the rows; a change means a full rebuild."""
    relevant = {
        "version": FORMAT_VERSION,
        "agents": {k: v.model_dump() for k, v in settings.agents.items()},
        "personas": {k: v.model_dump() for k, v in settings.personas.items()},
        "context": settings.context.model_dump(),
        "unknown": [
            settings.personalization_unknown_persona,
            settings.personalization_unknown_value,
            settings.personalization_campaign_variable,
        ],
        # Only a digest of the keys: a rotation re-seals every record with the newest key.
        "keys": hashlib.sha256(
            b"|".join(k.get_secret_value().encode() for k in settings.secret_keys)
        ).hexdigest(),
    }
    return hashlib.sha256(orjson.dumps(relevant, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _phone_of(record_key: str) -> str:
    return record_key.rsplit(":", 1)[1]


class Refresher:
    """Writes the records of numbers; follows changes; rebuilds everything on demand."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        redis: Redis,
        box: SecretBox,
        *,
        batch: int = 1000,
        settle_secs: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.db = db
        self.redis: Any = redis  # redis-py types hash commands as "awaitable or value"
        self.box = box
        self.batch = batch
        self.settle_secs = settle_secs
        self.clock = clock
        self.config_hash = config_hash(settings)

    # ---- one pass of the worker loop ---------------------------------------------------------
    async def step(self) -> int:
        """Rebuild when the configuration changed, else apply what changed; records written."""
        token = await self._lock()
        if token is None:
            return 0  # another worker is at it
        try:
            stored = await self.redis.get(keys.personalization_config())
            if stored is None or _text(stored) != self.config_hash:
                return await self.rebuild(locked=True)
            return await self.refresh_changes()
        finally:
            await self._unlock(token)

    async def refresh_changes(self) -> int:
        """Rewrite the records of every number whose contact, context or campaign changed."""
        until = datetime.fromtimestamp(self.clock() - self.settle_secs, UTC)
        marks = await self.redis.hgetall(keys.personalization_watermarks())
        written = 0
        for table, read in _TABLES.items():
            since, key = _parse_mark(marks.get(table.encode()) or marks.get(table))
            while True:
                async with self.db.read() as s:
                    changes = await read(s, since, key, until, self.batch)
                if not changes:
                    break
                written += await self._apply(source.touched(changes))
                since, key = changes[-1].updated_at, changes[-1].key
                await self.redis.hset(
                    keys.personalization_watermarks(), table, f"{since.isoformat()}|{key}"
                )
                if len(changes) < self.batch:
                    break
        return written

    async def _apply(self, contacts: Mapping[str, str]) -> int:
        """Rewrite the numbers of `contacts` (id → number) and of the records they held."""
        ids = list(contacts)
        phones = set(contacts.values())
        stale: dict[str, str] = {}
        for start in range(0, len(ids), self.batch):
            chunk = ids[start : start + self.batch]
            held = await self.redis.hmget(keys.personalization_index(), chunk)
            for ident, old in zip(chunk, held, strict=True):
                if old is not None:
                    stale[ident] = _text(old)
                    phones.add(_phone_of(stale[ident]))
        written, _ = await self.write_phones(sorted(phones), stale.values())
        return written

    # ---- writing -----------------------------------------------------------------------------
    async def write_phones(
        self, phones: Sequence[str], stale: Collection[str] = ()
    ) -> tuple[int, set[str]]:
        """Rebuild the records of `phones` for every agent; delete `stale` keys nobody answers.

        Returns the number of records written and their keys.
        """
        written: set[str] = set()
        for start in range(0, len(phones), self.batch):
            chunk = phones[start : start + self.batch]
            async with self.db.read() as s:
                found = await source.best_contacts(s, chunk)
            written |= await self._store(found)
        orphans = [key for key in set(stale) if key not in written]
        if orphans:
            await self.redis.delete(*orphans)
        return len(written), written

    async def _store(self, found: Mapping[source.Pair, source.Found]) -> set[str]:
        policies: dict[int, CampaignPolicy] = {}
        pipe = self.redis.pipeline(transaction=False)
        written: set[str] = set()
        skipped = 0
        for pair, item in found.items():
            campaign_id = item.campaign.id or 0
            if campaign_id not in policies:
                try:
                    policies[campaign_id] = policy_of(item.campaign.config)
                except ValueError:
                    # A stored policy that no longer validates: answer with plain defaults.
                    policies[campaign_id] = CampaignPolicy()
            try:
                answer = contact_answer(
                    self.settings,
                    self.box,
                    item.contact,
                    item.campaign,
                    policies[campaign_id],
                    item.context,
                )
                record = records.encode(answer, self.box)
            except Exception as exc:
                # One record we cannot build or store (a secret no key opens, text JSON cannot
                # carry) must never stop the others: skipped, reported, the webhook falls back
                # to the database for that caller.
                log.warning(
                    "personalization.not_stored",
                    contact_id=item.contact.id,
                    reason=shown(f"{type(exc).__name__}: {exc}")[:500],
                )
                skipped += 1
                continue
            key = keys.personalization_record(*pair)
            pipe.set(key, record)
            pipe.hset(keys.personalization_index(), str(item.contact.id), key)
            written.add(key)
        if written:
            await pipe.execute()
        if skipped:
            await metrics.count(self.redis, SKIPPED, skipped)
        return written

    # ---- full rebuild ------------------------------------------------------------------------
    async def rebuild(self, *, locked: bool = False) -> int:
        """Every record from scratch, orphans removed; followed changes restart from now."""
        token = None if locked else await self._lock(wait_secs=_LOCK_MS / 1000)
        if not locked and token is None:
            raise TimeoutError("another personalization refresh holds the lock")
        try:
            started = self.clock()
            await self.redis.delete(keys.personalization_index())
            written: set[str] = set()
            after = ""
            while True:
                async with self.db.read() as s:
                    phones = await source.phones_page(s, after, self.batch)
                if not phones:
                    break
                written |= (await self.write_phones(phones))[1]
                after = phones[-1]
            await self._drop_orphans(written)
            # Changes stamped while the rebuild read are applied again by the next passes.
            mark = datetime.fromtimestamp(started - self.settle_secs, UTC).isoformat() + "|"
            await self.redis.hset(
                keys.personalization_watermarks(), mapping=dict.fromkeys(_TABLES, mark)
            )
            await self.redis.set(keys.personalization_config(), self.config_hash)
            log.info("personalization.rebuilt", records=len(written))
            return len(written)
        finally:
            if token is not None:
                await self._unlock(token)

    async def _drop_orphans(self, written: set[str]) -> None:
        orphans: list[str] = []
        async for key in self.redis.scan_iter(
            match=keys.personalization_records_pattern(), count=1000
        ):
            if _text(key) not in written:
                orphans.append(_text(key))
        for start in range(0, len(orphans), self.batch):
            await self.redis.delete(*orphans[start : start + self.batch])

    # ---- lock --------------------------------------------------------------------------------
    async def _lock(self, wait_secs: float = 0.0) -> str | None:
        token = secrets.token_hex(8)
        deadline = time.monotonic() + wait_secs
        while True:
            if await self.redis.set(keys.personalization_lock(), token, nx=True, px=_LOCK_MS):
                return token
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.1)

    async def _unlock(self, token: str) -> None:
        held = await self.redis.get(keys.personalization_lock())
        if held is not None and _text(held) == token:
            await self.redis.delete(keys.personalization_lock())


def _parse_mark(value: Any) -> tuple[datetime, str]:
    """A watermark `iso|key`; the epoch when none is stored yet."""
    if value is None:
        return _EPOCH, ""
    stamp, _, key = _text(value).partition("|")
    return datetime.fromisoformat(stamp), key
