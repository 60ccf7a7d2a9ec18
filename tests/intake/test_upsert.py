"""upsert_batch directly: what counts as a change, secrets across key rotation."""

from __future__ import annotations

from sqlmodel import select

from orchestrator.intake.rows import ContactRow
from orchestrator.intake.upsert import RowResult, upsert_batch
from orchestrator.secretbox import SecretBox
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Campaign, Contact, DoNotCall
from tests.support.factories import make_campaign


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


async def test_a_new_number_moves_the_waiting_attempt(db: Database) -> None:
    campaign = await make_campaign(db)
    box = SecretBox([])
    await upsert(db, campaign, row(), box=box)
    [result] = await upsert(db, campaign, row(phone_number="+14155550199"), box=box)
    assert result.result is RowResult.UPDATED
    async with db.session() as s:
        attempt = (await s.exec(select(Attempt))).one()
    assert (attempt.state, attempt.phone_number) == ("scheduled", "+14155550199")


async def test_a_new_number_on_the_do_not_call_list_stops_the_contact(db: Database) -> None:
    campaign = await make_campaign(db)
    box = SecretBox([])
    await upsert(db, campaign, row(), box=box)
    async with db.session() as s:
        s.add(DoNotCall(phone_number="+14155550199", reason="asked"))
    [result] = await upsert(db, campaign, row(phone_number="+14155550199"), box=box)
    assert result.disposition == "do_not_call"
    async with db.session() as s:
        attempt = (await s.exec(select(Attempt))).one()
        contact = (await s.exec(select(Contact))).one()
    assert attempt.state == "canceled" and contact.disposition == "do_not_call"


async def test_overrides_are_stored_and_a_change_is_an_update(db: Database) -> None:
    campaign = await make_campaign(db)
    box = SecretBox([])
    first = {"agent": {"language": "en"}}
    await upsert(db, campaign, row(overrides=first), box=box)
    [same] = await upsert(db, campaign, row(overrides=first), box=box)
    [changed] = await upsert(db, campaign, row(overrides={"agent": {"language": "fr"}}), box=box)
    assert (same.result, changed.result) == (RowResult.UNCHANGED, RowResult.UPDATED)
    async with db.session() as s:
        assert (await s.exec(select(Contact))).one().overrides == {"agent": {"language": "fr"}}


async def test_a_mixed_batch_reports_each_row(db: Database) -> None:
    campaign = await make_campaign(db)
    box = SecretBox([])
    await upsert(db, campaign, row(external_id="a"), row(external_id="b"), box=box)
    results = await upsert(
        db,
        campaign,
        row(external_id="a"),
        row(external_id="b", variables={"customer_name": "Bea"}),
        row(external_id="c", overrides={"tts": {"voice_id": "v"}}),
        box=box,
    )
    assert [(r.external_id, r.result) for r in results] == [
        ("a", RowResult.UNCHANGED),
        ("b", RowResult.UPDATED),
        ("c", RowResult.ACCEPTED),
    ]
    async with db.session() as s:
        stored = {c.external_id: c for c in (await s.exec(select(Contact))).all()}
        attempts = (await s.exec(select(Attempt.contact_id))).all()
    assert stored["c"].overrides == {"tts": {"voice_id": "v"}}
    assert sorted(attempts) == sorted(c.id for c in stored.values())
    assert {r.contact_id for r in results} == {c.id for c in stored.values()}


async def test_contacts_of_other_campaigns_are_not_taken_for_new_ones(db: Database) -> None:
    one, two = await make_campaign(db, "one"), await make_campaign(db, "two")
    box = SecretBox([])
    await upsert(db, one, row(external_id="x"), box=box)
    results = await upsert(db, two, row(external_id="x"), row(external_id="y"), box=box)
    async with db.session() as s:
        mine = (await s.exec(select(Contact.id).where(Contact.campaign_id == two.id))).all()
        attempts = (await s.exec(select(Attempt.campaign_id))).all()
    assert sorted(r.contact_id for r in results) == sorted(mine)
    assert sorted(attempts) == sorted([one.id, two.id, two.id])


async def test_variables_serialized_by_a_worker_are_stored_as_given(db: Database) -> None:
    import json

    campaign = await make_campaign(db)
    variables = {"customer_name": "Ada", "visits": 2}
    rows = [
        row(external_id="a", variables=variables, variables_json=json.dumps(variables)),
        row(
            external_id="b",
            variables={"customer_name": "Bo"},
            variables_json='{"customer_name": "Bo"}',
        ),
    ]
    async with db.session() as s:
        await upsert_batch(s, campaign, rows, SecretBox([]), sealing=False)
    # A serialization that differs from the column's own is not trusted: the dict is stored.
    odd = row(external_id="c", variables={"customer_name": "Cy"}, variables_json='{"x":1}')
    async with db.session() as s:
        await upsert_batch(s, campaign, [odd], SecretBox([]), sealing=False)
    async with db.session() as s:
        stored = {c.external_id: c.variables for c in (await s.exec(select(Contact))).all()}
    assert stored == {"a": variables, "b": {"customer_name": "Bo"}, "c": {"customer_name": "Cy"}}
