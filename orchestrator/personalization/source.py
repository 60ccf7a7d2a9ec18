"""Which contact answers for a caller number, read from the database in batches.

Several campaigns may hold one number. For an (agent, number) pair the answer comes from the
contact updated most recently among the campaigns of that agent (ties: the newest row), with its
campaign and the context of that person's last call. The same reads serve the webhook's
database fallback (one pair) and the refresher (a thousand pairs at a time).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, make_url, or_
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.store.engine import Database, async_url, is_sqlite
from orchestrator.store.models import Campaign, Contact, ContactContext

#: (agent id, caller number in E.164)
Pair = tuple[str, str]


@dataclass(frozen=True)
class Found:
    """The contact answering for one pair, with what its answer is built from."""

    contact: Contact
    campaign: Campaign
    context: ContactContext | None


async def best_contacts(
    s: AsyncSession, phones: Collection[str], agents: Collection[str] | None = None
) -> dict[Pair, Found]:
    """For every (agent, number) among `phones` (and `agents` when given): its contact."""
    if not phones:
        return {}
    query = (
        select(Contact, Campaign)
        .join(Campaign, col(Campaign.id) == col(Contact.campaign_id))
        .where(col(Contact.phone_number).in_(list(phones)))
    )
    if agents is not None:
        query = query.where(col(Campaign.agent_id).in_(list(agents)))
    best: dict[Pair, tuple[Contact, Campaign]] = {}
    for contact, campaign in (await s.exec(query)).all():
        pair = (campaign.agent_id, contact.phone_number)
        held = best.get(pair)
        if held is None or _newer(contact, held[0]):
            best[pair] = (contact, campaign)
    people = {contact.external_id for contact, _ in best.values()}
    contexts = await _contexts(s, people)
    return {
        pair: Found(contact, campaign, contexts.get(contact.external_id))
        for pair, (contact, campaign) in best.items()
    }


#: Is any contact of the agent's campaigns at this number? Built once: the webhook's database
#: fallback asks it for every caller without a record, most of them strangers.
_ANY_CONTACT = (
    select(Contact.id)
    .join(Campaign, col(Campaign.id) == col(Contact.campaign_id))
    .where(col(Contact.phone_number) == bindparam("phone"))
    .where(col(Campaign.agent_id) == bindparam("agent"))
    .limit(1)
)


async def has_contact(conn: AsyncConnection, phone: str, agent: str) -> bool:
    """Whether a contact of `agent`'s campaigns has `phone` (one indexed probe, no ORM).

    A third of the cost of `best_contacts` for a stranger, which is what most misses are.
    """
    row = (await conn.execute(_ANY_CONTACT, {"phone": phone, "agent": agent})).first()
    return row is not None


class ContactProbe:
    """`has_contact` for the webhook's misses, on a connection of its own when SQLite allows.

    On SQLite the probe runs on a dedicated read-only connection on the event loop's thread,
    with the statement compiled once: a pooled connection's checkout, BEGIN and rollback, and
    SQLAlchemy's execution machinery, cost ten times the indexed lookup itself. Elsewhere (on
    Postgres) it is `has_contact` on a pooled connection.
    """

    def __init__(self, db: Database, *, timeout: float) -> None:
        """Args:
        db: The process's database (its SQLite file, or its pool otherwise).
        timeout: Seconds SQLite may wait on a lock (rare for a read in WAL mode), on the
            event loop's thread: the webhook's budget, not sqlite3's default of 5 s.
        """
        self._db = db
        self._sqlite: sqlite3.Connection | None = None
        self._sql = ""
        self._order: tuple[str, ...] = ()
        self._fixed: dict[str, Any] = {}
        if is_sqlite(db.url):
            path = make_url(async_url(db.url)).database
            if path and path != ":memory:":
                compiled = _ANY_CONTACT.compile(dialect=sqlite_dialect.dialect())
                self._sql = compiled.string
                self._order = tuple(compiled.positiontup or ())
                self._fixed = dict(compiled.construct_params({"phone": "", "agent": ""}))
                self._sqlite = sqlite3.connect(
                    path, timeout=timeout, isolation_level=None, check_same_thread=False
                )
                self._sqlite.execute("PRAGMA query_only=ON")

    async def has_contact(self, phone: str, agent: str) -> bool:
        """Whether a contact of `agent`'s campaigns has `phone`."""
        if self._sqlite is None:
            async with self._db.quick_connection() as conn:
                return await has_contact(conn, phone, agent)
        params = {**self._fixed, "phone": phone, "agent": agent}
        row = self._sqlite.execute(self._sql, [params[name] for name in self._order]).fetchone()
        return row is not None

    def close(self) -> None:
        """Close the dedicated connection, if any."""
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None


def _newer(a: Contact, b: Contact) -> bool:
    return (a.updated_at, a.id or 0) > (b.updated_at, b.id or 0)


async def _contexts(s: AsyncSession, people: Collection[str]) -> dict[str, ContactContext]:
    if not people:
        return {}
    rows = await s.exec(
        select(ContactContext).where(col(ContactContext.external_id).in_(list(people)))
    )
    return {row.external_id: row for row in rows.all()}


async def phones_page(s: AsyncSession, after: str, limit: int) -> list[str]:
    """Distinct contact numbers above `after`, in order (a full rebuild walks them)."""
    rows = await s.exec(
        select(Contact.phone_number)
        .where(col(Contact.phone_number) > after)
        .distinct()
        .order_by(col(Contact.phone_number))
        .limit(limit)
    )
    return list(rows.all())


@dataclass(frozen=True)
class Change:
    """One changed row: when, its key, and the contacts it touches as (contact id, number)."""

    updated_at: datetime
    key: str
    contacts: tuple[tuple[str, str], ...]


def _after(column: Any, key_column: Any, since: datetime, key: Any) -> Any:
    # (updated_at, key) > (since, key), written out so every backend takes it.
    return or_(column > since, and_(column == since, key_column > key))


async def changed_contacts(
    s: AsyncSession, since: datetime, key: str, until: datetime, limit: int
) -> list[Change]:
    """Contacts changed after (since, key) and not after `until`, oldest first."""
    rows = await s.exec(
        select(Contact.updated_at, Contact.id, Contact.phone_number)
        .where(_after(col(Contact.updated_at), col(Contact.id), since, int(key or 0)))
        .where(col(Contact.updated_at) <= until)
        .order_by(col(Contact.updated_at), col(Contact.id))
        .limit(limit)
    )
    return [Change(at, str(ident), ((str(ident), phone),)) for at, ident, phone in rows.all()]


async def changed_contexts(
    s: AsyncSession, since: datetime, key: str, until: datetime, limit: int
) -> list[Change]:
    """Contexts (a call's outcome) changed after (since, key), with the numbers of the person."""
    rows = (
        await s.exec(
            select(ContactContext.updated_at, ContactContext.external_id)
            .where(
                _after(col(ContactContext.updated_at), col(ContactContext.external_id), since, key)
            )
            .where(col(ContactContext.updated_at) <= until)
            .order_by(col(ContactContext.updated_at), col(ContactContext.external_id))
            .limit(limit)
        )
    ).all()
    touched = await _contacts_of(
        s, col(Contact.external_id).in_([ext for _, ext in rows]), "external_id"
    )
    return [Change(at, ext, tuple(touched.get(ext, ()))) for at, ext in rows]


async def changed_campaigns(
    s: AsyncSession, since: datetime, key: str, until: datetime, limit: int
) -> list[Change]:
    """Campaigns changed after (since, key), with the numbers of all their contacts."""
    rows = (
        await s.exec(
            select(Campaign.updated_at, Campaign.id)
            .where(_after(col(Campaign.updated_at), col(Campaign.id), since, int(key or 0)))
            .where(col(Campaign.updated_at) <= until)
            .order_by(col(Campaign.updated_at), col(Campaign.id))
            .limit(limit)
        )
    ).all()
    touched = await _contacts_of(
        s, col(Contact.campaign_id).in_([ident for _, ident in rows]), "campaign_id"
    )
    return [Change(at, str(ident), tuple(touched.get(str(ident), ()))) for at, ident in rows]


async def _contacts_of(
    s: AsyncSession, condition: Any, by: str
) -> dict[str, list[tuple[str, str]]]:
    """Owner (external id or campaign id) → its contacts as (contact id, number)."""
    group = getattr(Contact, by)
    rows = await s.exec(select(group, Contact.id, Contact.phone_number).where(condition))
    out: dict[str, list[tuple[str, str]]] = {}
    for owner, ident, phone in rows.all():
        out.setdefault(str(owner), []).append((str(ident), phone))
    return out


def touched(changes: Iterable[Change]) -> dict[str, str]:
    """Every contact the changes touch: contact id → its number now."""
    return {ident: phone for change in changes for ident, phone in change.contacts}
