"""Upsert validated contact rows into a campaign, a batch per transaction.

A new contact gets its first attempt, scheduled now; a known one (same campaign and external
id) is patched in place when something changed: the fields the row gives change, the others are
kept, variables merge by name (`rows.ContactRow`), so a write never erases what it omits. A row
that would leave the contact without a required variable (or a new contact without a number) is
refused, naming the field. A number on the do-not-call list is recorded with that disposition and
gets no attempt. Each batch is one transaction, so the database never holds a contact without its
attempt, nor half a contact.

Rows are written with Core `INSERT … VALUES` batches and `UPDATE` executemany rather than ORM
objects: a 100,000-row import spends its time on the data, not on unit-of-work bookkeeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import Table, bindparam, func, insert, literal, select, update
from sqlalchemy.engine import Dialect
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.domain.outcome import Disposition
from orchestrator.domain.variables import is_secret
from orchestrator.errors import SecretsUnavailable
from orchestrator.intake.rows import ContactRow
from orchestrator.intake.text_rows import REQUIRED_NO_DEFAULT
from orchestrator.secretbox import SecretBox
from orchestrator.store.bulk import among, bind_processor, insert_many
from orchestrator.store.models import Campaign
from orchestrator.store.types import utcnow


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


CONTACT = _table("contact")
ATTEMPT = _table("attempt")
DO_NOT_CALL = _table("donotcall")

#: Contact columns a row sets (besides the variables, compared in clear).
_FIELDS = ("phone_number", "timezone", "persona", "overrides")


class RowResult(StrEnum):
    """What happened to one row."""

    ACCEPTED = "accepted"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


#: Why a row for a contact the campaign does not have yet is refused without a number.
NEW_NEEDS_NUMBER = "required for a new contact (the campaign has no contact with this external_id)"


class Upserted(NamedTuple):
    """The result of one row's upsert (a named tuple: an import makes one per row)."""

    external_id: str
    result: RowResult
    #: None for a refused row.
    contact_id: int | None
    #: The contact's disposition after the upsert (`do_not_call` for a blocked number).
    disposition: str = Disposition.PENDING
    #: Why a `REJECTED` row was refused, each (field, reason).
    problems: tuple[tuple[str, str], ...] = ()


def _encoded_as_stored(dialect: Dialect, rows: list[ContactRow]) -> bool:
    """Whether every row's `variables_json` is exactly what the JSON column would store."""
    if any(row.variables_json is None for row in rows):
        return False
    encode = bind_processor(CONTACT.c.variables, dialect)
    # The serializer is the engine's (json.dumps unless configured otherwise): check on one row.
    return encode is not None and encode(rows[0].variables) == rows[0].variables_json


def _seal(box: SecretBox, variables: dict[str, Any]) -> dict[str, Any]:
    # Most rows carry no secret: skip the copy and the check of every name.
    if any(is_secret(name) for name in variables):
        return box.seal(variables)
    return variables


async def upsert_batch(
    session: AsyncSession,
    campaign: Campaign,
    rows: Sequence[ContactRow],
    box: SecretBox,
    *,
    sealing: bool = True,
) -> list[Upserted]:
    """Insert or update `rows` (duplicates within the batch fold into the last one).

    `sealing=False` tells that no row carries a `secret__` variable (a CSV file without such a
    column), which spares checking every variable name.

    Returns:
        One result per distinct external id, in first-seen order.
    """
    assert campaign.id is not None
    latest: dict[str, ContactRow] = {}
    for row in rows:
        latest[row.external_id] = row
    ids = list(latest)
    c = CONTACT.c
    conn = await session.connection()
    existing = {
        r.external_id: r
        for r in (
            await conn.execute(
                select(
                    c.id, c.external_id, c.variables, c.disposition, *(c[f] for f in _FIELDS)
                ).where(c.campaign_id == campaign.id, among(c.external_id, ids, conn.dialect))
            )
        ).all()
    }
    phones = list({r.phone_number for r in latest.values() if r.phone_number is not None})
    dnc = set(
        (
            await conn.execute(
                select(DO_NOT_CALL.c.phone_number).where(
                    among(DO_NOT_CALL.c.phone_number, phones, conn.dialect)
                )
            )
        ).scalars()
    )
    results: dict[str, Upserted] = {}
    changes: list[dict[str, Any]] = []
    for ext, known in existing.items():
        try:
            change = _change(known, latest[ext], box)
        except _Refused as refused:
            results[ext] = Upserted(ext, RowResult.REJECTED, None, problems=refused.problems)
            continue
        disposition = known.disposition
        if change is not None:
            changes.append(change)
            if change["_phone_number"] in dnc:
                disposition = Disposition.DO_NOT_CALL.value
        kind = RowResult.UPDATED if change is not None else RowResult.UNCHANGED
        results[ext] = Upserted(ext, kind, known.id, disposition)
    if changes:
        await _update(session, changes, dnc)
    fresh: list[ContactRow] = []
    for ext, row in latest.items():
        if ext in existing:
            continue
        problems = _new_contact_problems(row)
        if problems:
            results[ext] = Upserted(ext, RowResult.REJECTED, None, problems=problems)
        else:
            fresh.append(row)
    if fresh:
        await _insert(session, campaign.id, fresh, dnc, box, results, sealing)
    return [results[ext] for ext in ids]


async def _insert(
    session: AsyncSession,
    campaign_id: int,
    rows: list[ContactRow],
    dnc: set[str],
    box: SecretBox,
    results: dict[str, Upserted],
    sealing: bool,
) -> None:
    conn = await session.connection()
    now = utcnow()
    c = CONTACT.c
    pending, blocked = Disposition.PENDING.value, Disposition.DO_NOT_CALL.value
    # New rows get ids above the current maximum: reading them back by that bound needs no
    # list of 2,000 external ids in the query.
    before = (await conn.execute(select(func.coalesce(func.max(c.id), 0)))).scalar_one()
    shared: dict[str, Any] = {"campaign_id": campaign_id, "created_at": now, "updated_at": now}
    columns = ["external_id", "phone_number", "timezone", "persona", "disposition", "variables"]
    encoded = not sealing and _encoded_as_stored(conn.dialect, rows)
    values: list[tuple[Any, ...]] = [
        (
            row.external_id,
            row.phone_number,
            row.timezone,
            row.persona,
            blocked if row.phone_number in dnc else pending,
            row.variables_json
            if encoded
            else (_seal(box, row.variables) if sealing else row.variables),
        )
        for row in rows
    ]
    if any(row.overrides for row in rows):
        columns.append("overrides")
        values = [(*v, row.overrides) for v, row in zip(values, rows, strict=True)]
    else:
        # Usual for files: one empty override for the whole batch, serialized once.
        shared["overrides"] = {}
    await insert_many(
        conn, CONTACT, columns, values, shared=shared, raw=("variables",) if encoded else ()
    )
    ours = {row.external_id for row in rows}
    # By primary key only: a campaign condition would lead the planner to an index scanning
    # every contact of the campaign, each batch.
    inserted = await conn.execute(
        select(c.id, c.campaign_id, c.external_id, c.phone_number, c.disposition).where(
            c.id > before
        )
    )
    attempts: list[dict[str, Any]] = []
    for contact_id, campaign, ext, phone, disposition in inserted.all():
        # Another transaction may have added contacts meanwhile (not on SQLite, whose writers
        # take turns): only this batch's rows are ours.
        if campaign != campaign_id or ext not in ours:
            continue
        results[ext] = Upserted(ext, RowResult.ACCEPTED, contact_id, disposition)
        if disposition == pending:
            attempts.append({"contact_id": contact_id, "phone_number": phone})
    first = {
        "campaign_id": campaign_id,
        "seq": 1,
        "state": "scheduled",
        "due_at": now,
        "created_at": now,
        "updated_at": now,
    }
    if conn.dialect.name == "sqlite":
        # Writers take turns on SQLite, so every row above `before` is this batch's: the first
        # attempts are copied inside the database, set-based, with no row crossing to Python.
        await conn.execute(
            insert(ATTEMPT).from_select(
                [*first, "contact_id", "phone_number"],
                select(
                    *(literal(v, ATTEMPT.c[k].type) for k, v in first.items()),
                    c.id,
                    c.phone_number,
                ).where(c.id > before, c.disposition == pending),
            )
        )
    else:
        await insert_many(
            conn,
            ATTEMPT,
            ["contact_id", "phone_number"],
            [(a["contact_id"], a["phone_number"]) for a in attempts],
            shared=first,
        )


async def _update(session: AsyncSession, changes: list[dict[str, Any]], dnc: set[str]) -> None:
    """Write changed contacts; scheduled attempts follow a new number (or stop on a blocked one)."""
    conn = await session.connection()
    now = utcnow()
    c, a = CONTACT.c, ATTEMPT.c
    await conn.execute(
        update(CONTACT)
        .where(c.id == bindparam("_id"))
        .values(
            **{name: bindparam(f"_{name}") for name in ("variables", *_FIELDS)}, updated_at=now
        ),
        changes,
    )
    moved = [{"_id": ch["_id"], "_phone": ch["_phone_number"]} for ch in changes if ch["_moved"]]
    if not moved:
        return
    await conn.execute(
        update(ATTEMPT)
        .where(a.contact_id == bindparam("_id"), a.state == "scheduled")
        .values(phone_number=bindparam("_phone"), updated_at=now),
        moved,
    )
    blocked = [m["_id"] for m in moved if m["_phone"] in dnc]
    if blocked:
        await conn.execute(
            update(ATTEMPT)
            .where(a.contact_id.in_(blocked), a.state == "scheduled")
            .values(state="canceled", error="number on the do-not-call list", updated_at=now)
        )
        await conn.execute(
            update(CONTACT)
            .where(c.id.in_(blocked))
            .values(disposition=Disposition.DO_NOT_CALL.value, updated_at=now)
        )


class _Refused(Exception):
    """The row cannot be applied to the contact: `problems` says why."""

    def __init__(self, problems: tuple[tuple[str, str], ...]) -> None:
        self.problems = problems
        super().__init__(problems)


def _missing(needs: Sequence[str], present: Any) -> tuple[tuple[str, str], ...]:
    """A problem for each name of `needs` not in `present`."""
    return tuple((f"variables.{n}", REQUIRED_NO_DEFAULT) for n in needs if n not in present)


def _new_contact_problems(row: ContactRow) -> tuple[tuple[str, str], ...]:
    """Why `row` cannot create a contact: no number, or required variables it lacks."""
    missing = (("phone_number", NEW_NEEDS_NUMBER),) if row.phone_number is None else ()
    return missing + _missing(row.needs, row.variables)


def _merged_variables(stored: dict[str, Any], row: ContactRow, box: SecretBox) -> dict[str, Any]:
    """The stored variables (sealed) patched by the row's: set, removed, or kept."""
    merged = {
        name: value
        for name, value in stored.items()
        if name not in row.removes and name not in row.variables
    }
    for name, value in row.variables.items():
        old = stored.get(name)
        # A sealed value differs on every encryption: compare plaintexts, so an unchanged
        # secret keeps its stored ciphertext and a changed one is sealed anew.
        if is_secret(name):
            keep = old is not None and _opens_to(box, name, old, value)
            merged[name] = old if keep else box.seal({name: value})[name]
        else:
            merged[name] = value
    return merged


def _opens_to(box: SecretBox, name: str, sealed: Any, value: Any) -> bool:
    """Whether the stored `sealed` value of `name` is `value` (as sealing would store it)."""
    try:
        opened = box.open({name: sealed})[name]
    except SecretsUnavailable:
        return False  # sealed with a key no longer configured: store the new ciphertext
    return bool(opened == (value if isinstance(value, str) else str(value)))


def _change(known: Any, row: ContactRow, box: SecretBox) -> dict[str, Any] | None:
    """Every column to write for a known contact, or None when the row changes nothing.

    Raises:
        _Refused: the patched contact would lack a required variable.
    """
    stored = known.variables or {}
    variables = _merged_variables(stored, row, box) if row.variables or row.removes else stored
    missing = _missing(row.needs, variables)
    if missing:
        raise _Refused(missing)
    fields = {
        name: getattr(row, name) if name in row.given else getattr(known, name) for name in _FIELDS
    }
    if variables == stored and all(getattr(known, name) == fields[name] for name in _FIELDS):
        return None
    return {
        "_id": known.id,
        "_moved": known.phone_number != fields["phone_number"],
        "_variables": variables,
        **{f"_{name}": value for name, value in fields.items()},
    }
