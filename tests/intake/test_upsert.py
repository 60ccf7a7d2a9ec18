"""upsert_batch directly: what counts as a change, secrets across key rotation."""

from __future__ import annotations

from sqlmodel import select

from orchestrator.intake.rows import ContactRow
from orchestrator.intake.upsert import RowResult, upsert_batch
from orchestrator.secretbox import SecretBox
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Campaign, Contact
from tests.factories import make_campaign


def row(**fields: object) -> ContactRow:
    values: dict[str, object] = {
        "external_id": "crm-1",
        "phone_number": "+14155550123",
        "variables": {"customer_name": "Ada"},
    }
    values.update(fields)
    return ContactRow(**values)  # type: ignore[arg-type]


async def upsert(db: Database, campaign: Campaign, *rows: ContactRow, box: SecretBox) -> list:
    async with db.session() as s:
        return await upsert_batch(s, campaign, list(rows), box)


async def test_new_contact_gets_one_scheduled_attempt(db: Database) -> None:
    campaign = await make_campaign(db)
    [result] = await upsert(db, campaign, row(), box=SecretBox([]))
    assert result.result is RowResult.ACCEPTED
    async with db.session() as s:
        attempt = (await s.exec(select(Attempt))).one()
    assert (attempt.contact_id, attempt.state, attempt.seq) == (result.contact_id, "scheduled", 1)
    assert attempt.phone_number == "+14155550123"


async def test_results_come_back_in_first_seen_order(db: Database) -> None:
    campaign = await make_campaign(db)
    await upsert(db, campaign, row(external_id="b"), box=SecretBox([]))
    results = await upsert(
        db, campaign, row(external_id="a"), row(external_id="b"), box=SecretBox([])
    )
    assert [(r.external_id, r.result) for r in results] == [
        ("a", RowResult.ACCEPTED),
        ("b", RowResult.UNCHANGED),
    ]


async def test_each_contact_field_counts_as_a_change(db: Database) -> None:
    campaign = await make_campaign(db)
    box = SecretBox([])
    await upsert(db, campaign, row(), box=box)
    for changed in (
        row(phone_number="+14155550199"),
        row(phone_number="+14155550199", timezone="America/New_York"),
        row(phone_number="+14155550199", timezone="America/New_York", persona="calm"),
    ):
        [result] = await upsert(db, campaign, changed, box=box)
        assert result.result is RowResult.UPDATED
    async with db.session() as s:
        contact = (await s.exec(select(Contact))).one()
    assert (contact.phone_number, contact.timezone, contact.persona) == (
        "+14155550199",
        "America/New_York",
        "calm",
    )


async def test_external_ids_are_scoped_per_campaign(db: Database) -> None:
    one, two = await make_campaign(db, "one"), await make_campaign(db, "two")
    await upsert(db, one, row(), box=SecretBox([]))
    [result] = await upsert(db, two, row(), box=SecretBox([]))
    assert result.result is RowResult.ACCEPTED


async def test_an_unchanged_secret_keeps_its_ciphertext(db: Database) -> None:
    campaign = await make_campaign(db)
    box = SecretBox([SecretBox.generate_key()])
    secret_row = row(variables={"customer_name": "Ada", "secret__token": "tok"})
    await upsert(db, campaign, secret_row, box=box)
    async with db.session() as s:
        before = (await s.exec(select(Contact))).one().variables["secret__token"]
    [result] = await upsert(db, campaign, secret_row, box=box)
    assert result.result is RowResult.UNCHANGED
    async with db.session() as s:
        assert (await s.exec(select(Contact))).one().variables["secret__token"] == before


async def test_a_secret_sealed_with_a_dropped_key_is_resealed(db: Database) -> None:
    campaign = await make_campaign(db)
    old_key, new_key = SecretBox.generate_key(), SecretBox.generate_key()
    secret_row = row(variables={"customer_name": "Ada", "secret__token": "tok"})
    await upsert(db, campaign, secret_row, box=SecretBox([old_key]))
    [result] = await upsert(db, campaign, secret_row, box=SecretBox([new_key]))
    assert result.result is RowResult.UPDATED
    async with db.session() as s:
        stored = (await s.exec(select(Contact))).one().variables
    assert SecretBox([new_key]).open(stored)["secret__token"] == "tok"
