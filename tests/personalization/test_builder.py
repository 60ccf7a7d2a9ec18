"""The answer for one caller: every declared variable, the context, the persona, the same rules."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.domain.campaign_policy import CampaignPolicy
from orchestrator.domain.persona import Persona
from orchestrator.domain.variables import AgentVariable
from orchestrator.personalization.builder import contact_answer, unknown_answer
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store.models import Campaign, Contact, ContactContext
from tests.conftest import AGENT

KEY = SecretBox.generate_key()


def _settings(settings: Settings) -> Settings:
    agents = dict(settings.agents)
    agents[AGENT].variables["last_call_campaign"] = AgentVariable(type="string")
    return settings.model_copy(
        update={
            "agents": agents,
            "personas": {
                "calm": Persona(agent_id=AGENT, first_message="Hi {{customer_name}}"),
                "unknown_caller": Persona(agent_id=AGENT, first_message="Who is this?"),
            },
        }
    )


def _contact(**fields: object) -> Contact:
    values: dict[str, object] = {
        "id": 7,
        "campaign_id": 1,
        "external_id": "crm-7",
        "phone_number": "+14155550123",
        "variables": {"customer_name": "Ada", "vip": True},
        **fields,
    }
    return Contact.model_validate(values)


CAMPAIGN = Campaign(id=1, name="spring", agent_id=AGENT, phone_number_id="p")


def test_known_caller_gets_every_variable_context_persona_and_user_id(settings: Settings) -> None:
    resolved = _settings(settings)
    context = ContactContext(
        external_id="crm-7",
        phone_number="+14155550123",
        campaign_name="winter",
        last_call_at=datetime(2025, 3, 1, 15, 0, tzinfo=UTC),
        last_outcome="success",
        last_summary="Wants a call back on Friday.",
    )
    policy = CampaignPolicy(
        persona="calm", allowed_overrides=["first_message"], default_variables={"visits": 3}
    )
    answer = contact_answer(resolved, SecretBox([]), _contact(), CAMPAIGN, policy, context)
    assert answer["type"] == "conversation_initiation_client_data"
    assert answer["user_id"] == "crm-7"
    variables = answer["dynamic_variables"]
    assert set(resolved.agent(AGENT).variables) <= set(variables)
    assert variables["customer_name"] == "Ada"
    assert variables["vip"] is True
    assert variables["visits"] == 3  # the campaign's default
    assert variables["balance"] == 0  # the declared default
    assert variables["last_call_summary"] == "Wants a call back on Friday."
    assert variables["last_call_date"] == "2025-03-01"
    assert variables["last_call_outcome"] == "success"
    assert variables["last_call_campaign"] == "winter"
    assert answer["conversation_config_override"] == {
        "agent": {"first_message": "Hi {{customer_name}}"}
    }


def test_persona_not_allowed_is_dropped_not_fatal(settings: Settings) -> None:
    resolved = _settings(settings)
    policy = CampaignPolicy(persona="calm", allowed_overrides=[])
    answer = contact_answer(resolved, SecretBox([]), _contact(), CAMPAIGN, policy, None)
    assert "conversation_config_override" not in answer
    assert answer["dynamic_variables"]["customer_name"] == "Ada"
    assert answer["dynamic_variables"]["last_call_summary"] == "none"


def test_secret_values_are_answered_in_clear(settings: Settings) -> None:
    box = SecretBox([KEY])
    contact = _contact(variables=box.seal({"customer_name": "Ada", "secret__token": "tok_1"}))
    answer = contact_answer(settings, box, contact, CAMPAIGN, CampaignPolicy(), None)
    assert answer["dynamic_variables"]["secret__token"] == "tok_1"


def test_unopenable_secret_degrades_to_the_unknown_answer(settings: Settings) -> None:
    contact = _contact(variables=SecretBox([KEY]).seal({"secret__token": "tok_1"}))
    answer = contact_answer(
        settings, SecretBox([SecretBox.generate_key()]), contact, CAMPAIGN, CampaignPolicy(), None
    )
    assert "user_id" not in answer
    assert "tok_1" not in str(answer)


def test_unknown_caller_gets_defaults_fillers_and_the_unknown_persona(settings: Settings) -> None:
    resolved = _settings(settings)
    answer = unknown_answer(resolved, AGENT)
    variables = answer["dynamic_variables"]
    assert set(resolved.agent(AGENT).variables) <= set(variables)
    assert variables["customer_name"] == "unknown"  # declared without default: the filler
    assert variables["balance"] == 0
    assert variables["last_call_campaign"] == "none"
    assert "user_id" not in answer
    assert answer["conversation_config_override"] == {"agent": {"first_message": "Who is this?"}}


def test_unknown_persona_of_another_agent_is_not_used(settings: Settings) -> None:
    resolved = settings.model_copy(
        update={"personas": {"unknown_caller": Persona(agent_id="other", voice_id="v")}}
    )
    answer = unknown_answer(resolved, AGENT)
    assert "conversation_config_override" not in answer
