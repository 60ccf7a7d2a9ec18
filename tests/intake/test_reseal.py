"""Key rotation: after `reseal`, the old key can go and every secret still opens."""

from __future__ import annotations

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from orchestrator.errors import SecretsUnavailable
from orchestrator.intake import reseal as reseal_module
from orchestrator.intake.reseal import reseal_all
from orchestrator.main import app
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Contact
from tests.support.factories import make_campaign, make_contact


async def test_every_secret_is_resealed_with_the_newest_key(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reseal_module, "BATCH", 2)  # several batches
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    campaign = await make_campaign(db)
    before = SecretBox([old])
    for i in range(5):
        contact, attempt = await make_contact(db, campaign, f"crm-{i}", f"+1415555010{i}")
        async with db.session() as s:
            stored = await s.get(Contact, contact.id)
            assert stored is not None
            stored.variables = before.seal({"customer_name": "A", "secret__t": f"tok-{i}"})
            if i == 0 and attempt is not None:
                row = await s.get(Attempt, attempt.id)
                assert row is not None
                row.call_data = {"variables": before.seal({"secret__otp": "123"}), "persona": "p"}
    await make_contact(db, campaign, "plain", "+14155550199")  # nothing sealed: untouched

    done = await reseal_all(db, SecretBox([new, old]))
    assert (done.contacts, done.attempts) == (5, 1)

    only_new = SecretBox([new])
    async with db.session() as s:
        contacts = {c.external_id: c for c in (await s.exec(select(Contact))).all()}
        attempts = (await s.exec(select(Attempt))).all()
    for i in range(5):
        assert only_new.open(contacts[f"crm-{i}"].variables)["secret__t"] == f"tok-{i}"
    [with_call] = [a for a in attempts if a.call_data]
    assert only_new.open(with_call.call_data["variables"]) == {"secret__otp": "123"}
    assert with_call.call_data["persona"] == "p"
    assert contacts["plain"].variables == {"customer_name": "Ada"}
    with pytest.raises(SecretsUnavailable):
        await reseal_all(db, SecretBox([SecretBox.generate_key()]))


def test_the_command_needs_a_key(settings: Settings) -> None:
    env = {"ORCH_DATABASE_URL": settings.database_url, "ORCH_SECRET_KEYS": ""}
    result = CliRunner().invoke(app, ["contacts", "reseal"], env=env)
    assert result.exit_code == 2, result.output
    assert "ORCH_SECRET_KEYS" in result.output


def test_keys_come_from_the_environment_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.settings import load_settings

    new, old = SecretBox.generate_key(), SecretBox.generate_key()
    monkeypatch.setenv("ORCH_SECRET_KEYS", f"{new}, {old}")
    keys = [k.get_secret_value() for k in load_settings(_env_file=None).secret_keys]
    assert keys == [new, old]
    sealed = SecretBox([old]).seal({"secret__t": "x"})
    assert SecretBox(keys).open(sealed) == {"secret__t": "x"}


async def test_a_plain_value_that_looks_sealed_is_left_alone(db: Database) -> None:
    key = SecretBox.generate_key()
    campaign = await make_campaign(db)
    contact, _attempt = await make_contact(db, campaign, "look-alike", "+14155550150")
    async with db.session() as s:
        stored = await s.get(Contact, contact.id)
        assert stored is not None
        stored.variables = {"note": "enc:v1:hello"}

    done = await reseal_all(db, SecretBox([key]))
    assert (done.contacts, done.attempts) == (0, 0)
    async with db.session() as s:
        again = await s.get(Contact, contact.id)
    assert again is not None and again.variables == {"note": "enc:v1:hello"}
