"""Upsert validated contact rows into a campaign, a batch per transaction.

A new contact gets its first attempt, scheduled now; a known one (same campaign and external
id) is updated in place when something changed. A number on the do-not-call list is recorded with
that disposition and gets no attempt. Each batch is one transaction, so the database never holds a
contact without its attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.domain.outcome import Disposition
from orchestrator.intake.rows import ContactRow
from orchestrator.secretbox import SecretBox, SecretsUnavailable
from orchestrator.store.models import Attempt, Campaign, Contact, DoNotCall
from orchestrator.store.types import utcnow


class RowResult(StrEnum):
    """What happened to one row."""

    ACCEPTED = "accepted"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Upserted:
    """The result of one row's upsert."""

    external_id: str
    result: RowResult
    contact_id: int


async def upsert_batch(
    session: AsyncSession,
    campaign: Campaign,
    rows: Sequence[ContactRow],
    box: SecretBox,
) -> list[Upserted]:
    """Insert or update `rows` (duplicates within the batch fold into the last one)."""
    assert campaign.id is not None
    latest: dict[str, ContactRow] = {}
    for row in rows:
        latest[row.external_id] = row
    ids = list(latest)
    existing = {
        c.external_id: c
        for c in (
            await session.exec(
                select(Contact).where(
                    Contact.campaign_id == campaign.id, col(Contact.external_id).in_(ids)
                )
            )
        ).all()
    }
    phones = list({r.phone_number for r in latest.values()})
    dnc = set(
        (
            await session.exec(
                select(DoNotCall.phone_number).where(col(DoNotCall.phone_number).in_(phones))
            )
        ).all()
    )
    now = utcnow()
    results: dict[str, Upserted] = {}
    new_rows: list[dict[str, Any]] = []
    for ext, row in latest.items():
        sealed = box.seal(row.variables)
        contact = existing.get(ext)
        if contact is None:
            blocked = row.phone_number in dnc
            new_rows.append(
                {
                    "campaign_id": campaign.id,
                    "external_id": ext,
                    "phone_number": row.phone_number,
                    "timezone": row.timezone,
                    "persona": row.persona,
                    "variables": sealed,
                    "disposition": Disposition.DO_NOT_CALL if blocked else Disposition.PENDING,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            continue
        assert contact.id is not None
        changed = _apply(contact, row, sealed, box)
        if changed:
            contact.updated_at = now
            session.add(contact)
        results[ext] = Upserted(
            ext, RowResult.UPDATED if changed else RowResult.UNCHANGED, contact.id
        )
    if new_rows:
        inserted = await session.exec(
            insert(Contact).returning(
                col(Contact.id), col(Contact.external_id), col(Contact.disposition)
            ),
            params=new_rows,
        )
        attempts: list[dict[str, Any]] = []
        phone_of = {r["external_id"]: r["phone_number"] for r in new_rows}
        for contact_id, ext, disposition in inserted.all():
            results[ext] = Upserted(ext, RowResult.ACCEPTED, contact_id)
            if disposition == Disposition.PENDING:
                attempts.append(
                    {
                        "campaign_id": campaign.id,
                        "contact_id": contact_id,
                        "seq": 1,
                        "phone_number": phone_of[ext],
                        "state": "scheduled",
                        "due_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
        if attempts:
            await session.exec(insert(Attempt), params=attempts)
    return [results[ext] for ext in ids]


def _apply(contact: Contact, row: ContactRow, sealed: dict[str, Any], box: SecretBox) -> bool:
    """Copy the row's fields onto `contact`; True when anything changed."""
    changed = False
    # A sealed value differs on every encryption: compare plaintexts, so an unchanged secret
    # keeps its stored ciphertext and a changed one is stored.
    try:
        old_plain: dict[str, Any] | None = box.open(contact.variables)
    except SecretsUnavailable:
        old_plain = None  # sealed with a key no longer configured: store the new ciphertext
    if old_plain != box.open(sealed):
        contact.variables = sealed
        changed = True
    for name in ("phone_number", "timezone", "persona"):
        value = getattr(row, name)
        if getattr(contact, name) != value:
            setattr(contact, name, value)
            changed = True
    return changed
