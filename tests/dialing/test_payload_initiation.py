"""The initiation data of a real attempt: every layer from the database, context across
campaigns, secrets opened only here, and a configuration that changed since intake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from orchestrator.deps import Deps, build_deps, close_deps
from orchestrator.dialing.initiation import initiation_for
from orchestrator.domain.campaign_policy import CampaignPolicy, policy_of
from orchestrator.domain.persona import Persona
from orchestrator.errors import InitiationRefused, SecretsUnavailable
from orchestrator.lifecycle import context_variables
from orchestrator.lifecycle.memory import remember
from orchestrator.secretbox import SecretBox
from orchestrator.settings import ContextSettings, Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Campaign, Contact, ContactContext, Outcome
from tests.conftest import AGENT
from tests.support.factories import make_campaign, make_contact

KEY = SecretBox.generate_key()
PERSONAS = {
    "calm": Persona(agent_id=AGENT, first_message="Hi {{customer_name}}", voice_id="v_calm"),
    "brisk": Persona(agent_id=AGENT, voice_id="v_brisk"),
}


@pytest.fixture
async def deps(settings: Settings, db: Database, fake_redis: Any) -> AsyncIterator[Deps]:
    configured = settings.model_copy(
        update={
            "personas": PERSONAS,
            "secret_keys": [SecretStr(KEY)],
            "context": ContextSettings(fields={"preferred_time": "last_preferred_time"}),
        }
    )
    built = build_deps(configured, fake_redis)
    yield built
    await close_deps(built)


async def _campaign(db: Database, name: str, **policy: Any) -> Campaign:
    return await make_campaign(db, name, config=CampaignPolicy(**policy).model_dump(mode="json"))


async def _initiation(deps: Deps, contact: Contact, attempt: Attempt, campaign: Campaign) -> Any:
    return await initiation_for(deps, attempt, contact, campaign, policy_of(campaign.config))


async def test_every_layer_reaches_the_dial(deps: Deps, db: Database) -> None:
    campaign = await _campaign(
        db,
        "spring",
        persona="calm",
        allowed_overrides=["first_message", "voice", "language"],
        default_variables={"balance": 9.5},
    )
    box = SecretBox([KEY])
    contact, attempt = await make_contact(db, campaign, overrides={"agent": {"language": "en"}})
    assert attempt is not None
    async with db.session() as s:
        stored = await s.get(Contact, contact.id)
        assert stored is not None
        stored.variables = box.seal({"customer_name": "Ada", "secret__token": "tok_1"})
        row = await s.get(Attempt, attempt.id)
        assert row is not None
        row.call_data = {"variables": box.seal({"visits": 4}), "persona": "brisk"}
    contact.variables = stored.variables
    attempt.call_data = row.call_data
    data = await _initiation(deps, contact, attempt, campaign)
    assert data["user_id"] == "crm-1"
    assert data["dynamic_variables"] == {
        "customer_name": "Ada",
        "secret__token": "tok_1",
        "balance": 9.5,
        "visits": 4,
        "vip": False,
        "last_call_summary": "none",
        "last_call_date": "none",
        "last_call_outcome": "none",
        "last_preferred_time": "none",
    }
    # The call's persona wins over the campaign's; the contact's override stays.
    assert data["conversation_config_override"] == {
        "tts": {"voice_id": "v_brisk"},
        "agent": {"language": "en"},
    }


async def test_context_from_a_call_in_another_campaign_is_carried(deps: Deps, db: Database) -> None:
    first, second = await _campaign(db, "first"), await _campaign(db, "second")
    contact, attempt = await make_contact(db, first)
    assert attempt is not None
    outcome = Outcome(
        attempt_id=attempt.id or 0,
        campaign_id=first.id or 0,
        state="completed",
        call_successful="success",
        transcript_summary="Wants a call back on Friday.",
        data_collection={"preferred_time": "friday 10am", "interested": True},
    )
    attempt.ended_at = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
    async with db.session() as s:
        await remember(s, attempt, contact, first, outcome)
    later, next_attempt = await make_contact(db, second)
    assert next_attempt is not None
    data = await _initiation(deps, later, next_attempt, second)
    assert {k: v for k, v in data["dynamic_variables"].items() if k.startswith("last_")} == {
        "last_call_summary": "Wants a call back on Friday.",
        "last_call_date": "2025-03-04",
        "last_call_outcome": "success",
        "last_preferred_time": "friday 10am",
    }


async def test_a_persona_removed_since_intake_fails_the_attempt_with_the_reason(
    deps: Deps, db: Database
) -> None:
    campaign = await _campaign(db, "spring", allowed_overrides=["voice"])
    contact, attempt = await make_contact(db, campaign, persona="retired")
    assert attempt is not None
    with pytest.raises(InitiationRefused, match="unknown persona 'retired'"):
        await _initiation(deps, contact, attempt, campaign)


async def test_an_override_no_longer_allowed_fails_the_attempt(deps: Deps, db: Database) -> None:
    campaign = await _campaign(db, "spring")
    contact, attempt = await make_contact(db, campaign, overrides={"tts": {"voice_id": "v"}})
    assert attempt is not None
    with pytest.raises(InitiationRefused, match="voice"):
        await _initiation(deps, contact, attempt, campaign)


async def test_a_secret_sealed_with_an_unknown_key_cannot_be_dialled(
    deps: Deps, db: Database
) -> None:
    campaign = await _campaign(db, "spring")
    other = SecretBox([SecretBox.generate_key()])
    contact, attempt = await make_contact(db, campaign)
    assert attempt is not None
    contact.variables = other.seal({"customer_name": "Ada", "secret__token": "t"})
    with pytest.raises(SecretsUnavailable):
        await _initiation(deps, contact, attempt, campaign)


# --- the context variables themselves -----------------------------------------------------------


def test_no_earlier_call_gives_the_missing_value_for_each_name() -> None:
    settings = ContextSettings(fields={"x": "last_x"}, missing="unknown")
    assert context_variables(None, settings) == {
        "last_call_summary": "unknown",
        "last_call_date": "unknown",
        "last_call_outcome": "unknown",
        "last_x": "unknown",
    }
    assert context_variables(None, ContextSettings(enabled=False)) == {}


def test_names_are_configurable_and_objects_become_text() -> None:
    settings = ContextSettings(
        summary_variable="previous_summary", fields={"address": "previous_address"}
    )
    context = ContactContext(
        external_id="x",
        phone_number="+14155550123",
        last_summary="Moved house.",
        last_outcome="failure",
        collected={"address": {"city": "Lyon"}},
    )
    found = context_variables(context, settings)
    assert found["previous_summary"] == "Moved house."
    assert found["previous_address"] == '{"city":"Lyon"}'
    assert found["last_call_date"] == "none"


async def test_only_connected_calls_are_remembered_and_old_answers_survive(db: Database) -> None:
    campaign = await _campaign(db, "spring")
    contact, attempt = await make_contact(db, campaign)
    assert attempt is not None

    def outcome(state: str, collected: dict[str, Any]) -> Outcome:
        return Outcome(
            attempt_id=attempt.id or 0,
            campaign_id=campaign.id or 0,
            state=state,
            call_successful="success",
            data_collection=collected,
        )

    async with db.session() as s:
        await remember(s, attempt, contact, campaign, outcome("no_answer", {"a": 1}))
    async with db.session() as s:
        assert await s.get(ContactContext, "crm-1") is None
        await remember(s, attempt, contact, campaign, outcome("completed", {"a": 1, "b": 2}))
    async with db.session() as s:
        await remember(s, attempt, contact, campaign, outcome("voicemail", {"a": None, "b": 3}))
    async with db.session() as s:
        context = await s.get(ContactContext, "crm-1")
    assert context is not None
    assert context.collected == {"a": 1, "b": 3}
    assert context.last_outcome == "voicemail"
