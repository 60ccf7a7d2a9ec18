"""The bulk insert under the upsert: the same values SQLAlchemy would store, defaults filled."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlmodel import SQLModel

from orchestrator.store.bulk import among, insert_many
from orchestrator.store.engine import Database
from orchestrator.store.models import Contact
from tests.support.factories import make_campaign

CONTACT = SQLModel.metadata.tables["contact"]


async def test_rows_read_back_as_an_orm_insert_would_store_them(db: Database) -> None:
    campaign = await make_campaign(db)
    when = datetime(2025, 3, 4, 15, 30, 0, 123456, tzinfo=UTC)
    async with db.session() as s:
        conn = await s.connection()
        await insert_many(
            conn,
            CONTACT,
            ["external_id", "phone_number", "variables"],
            [
                ("a", "+14155550101", {"customer_name": "Ada", "vip": True, "n": 1.5}),
                ("b", "+14155550102", {}),
            ],
            shared={"campaign_id": campaign.id, "created_at": when, "updated_at": when},
        )
    async with db.session() as s:
        rows = {c.external_id: c for c in (await s.exec(select(Contact))).scalars()}  # type: ignore[call-overload]
    assert rows["a"].variables == {"customer_name": "Ada", "vip": True, "n": 1.5}
    assert rows["b"].variables == {} and rows["b"].overrides == {}
    # Python-side defaults of the columns not given:
    assert (rows["a"].disposition, rows["a"].attempts_made, rows["a"].persona) == (
        "pending",
        0,
        None,
    )
    assert rows["a"].created_at == when


async def test_a_required_column_without_default_must_be_given(db: Database) -> None:
    async with db.session() as s:
        conn = await s.connection()
        with pytest.raises(ValueError, match=r"contact\.campaign_id is NOT NULL"):
            await insert_many(conn, CONTACT, ["external_id"], [("a",)])


async def test_among_matches_like_in(db: Database) -> None:
    campaign = await make_campaign(db)
    async with db.session() as s:
        conn = await s.connection()
        await insert_many(
            conn,
            CONTACT,
            ["external_id", "phone_number"],
            [(f"x{i}", f"+1415555{i:04d}") for i in range(50)],
            shared={"campaign_id": campaign.id},
        )
        wanted = ["x3", "x7", "nope", "x49", "it's"]
        found = (
            await conn.execute(
                select(CONTACT.c.external_id).where(
                    among(CONTACT.c.external_id, wanted, conn.dialect)
                )
            )
        ).scalars()
    assert sorted(found) == ["x3", "x49", "x7"]
