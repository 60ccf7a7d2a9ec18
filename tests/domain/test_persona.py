"""Personas: their overrides, which campaigns may use them, and loading `personas.toml`."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.domain.persona import (
    Persona,
    check_placeholders,
    persona_problem,
    pick_persona,
)
from orchestrator.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_a_persona_becomes_provider_overrides() -> None:
    persona = Persona(
        agent_id="a",
        prompt="You are Maya.",
        first_message="Hi",
        language="en",
        voice_id="v1",
        llm="gpt-4o",
        stability=0.4,
        speed=0.9,
        similarity_boost=0.7,
    )
    assert persona.overrides() == {
        "agent": {
            "prompt": {"prompt": "You are Maya.", "llm": "gpt-4o"},
            "first_message": "Hi",
            "language": "en",
        },
        "tts": {"voice_id": "v1", "stability": 0.4, "speed": 0.9, "similarity_boost": 0.7},
    }


def test_omitted_and_blank_fields_are_not_overridden() -> None:
    assert Persona(agent_id="a", first_message="  ", voice_id="v").overrides() == {
        "tts": {"voice_id": "v"}
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"speed": 2},
        {"stability": 1.5},
        {"language": "English"},
        {"voice": "x"},
        {},
        # Sent with every call of the persona: text the provider cannot take stops start-up.
        {"prompt": "Be kind\x00"},
        {"first_message": "Hi \x1b[31m"},
        {"voice_id": "v\ufffe"},
    ],
)
def test_invalid_personas_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Persona.model_validate({"agent_id": "a", **fields} if fields else {})


PERSONAS = {
    "calm": Persona(agent_id="a", first_message="Hi", voice_id="v"),
    "other": Persona(agent_id="b", voice_id="v"),
}


def test_a_campaign_may_use_a_persona_of_its_agent_within_its_allowed_overrides() -> None:
    assert persona_problem("calm", PERSONAS, "a", {"first_message", "voice"}) is None
    assert persona_problem(None, PERSONAS, "a", set()) is None
    unknown = persona_problem("nobody", PERSONAS, "a", set())
    assert unknown is not None and "unknown persona 'nobody'" in unknown and "calm" in unknown
    foreign = persona_problem("other", PERSONAS, "a", {"voice"})
    assert foreign is not None and "belongs to agent b" in foreign
    narrow = persona_problem("calm", PERSONAS, "a", {"voice"})
    assert narrow is not None and "first_message" in narrow and "voice," not in narrow


def test_the_call_wins_over_the_contact_over_the_campaign() -> None:
    assert pick_persona("call", "contact", "campaign") == "call"
    assert pick_persona(None, "contact", "campaign") == "contact"
    assert pick_persona(None, "", "campaign") == "campaign"
    assert pick_persona(None, None, None) is None


def test_placeholders_must_be_variables_the_agent_receives() -> None:
    personas = {
        "ok": Persona(agent_id="a", first_message="Hi {{name}} {{ system__caller_id }}"),
        "bad": Persona(agent_id="a", prompt="About {{plan}}"),
        "unchecked": Persona(agent_id="z", prompt="{{anything}}"),
    }
    assert check_placeholders(personas, {"a": {"name"}}) == [
        (
            "personas.bad.prompt",
            "uses {{plan}}, which agent a does not declare (the conversation would fail "
            "without it)",
        )
    ]


# --- loading ------------------------------------------------------------------------------------


def test_the_bundled_personas_file_is_valid_and_has_an_unknown_caller() -> None:
    settings = load_settings(
        ROOT / "config" / "orchestrator.toml",
        personas_file=ROOT / "config" / "personas.toml",
        _env_file=None,
    )
    assert {"maya", "unknown_caller"} <= set(settings.personas)
    assert {p.agent_id for p in settings.personas.values()} == {"agent_sandbox"}
    assert len(settings.personas) >= 3


def test_a_personas_file_is_read_at_load(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[personas.calm]\nagent_id = "a"\nvoice_id = "v"\n')
    settings = Settings(_env_file=None, personas_file=path)
    assert settings.personas["calm"].voice_id == "v"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[personas.calm]\nagent_id = "a"\nspeed = 3\n', "personas.calm.speed"),
        ('[personas.calm]\nvoice_id = "v"\n', "personas.calm.agent_id"),
        ('[personas.calm]\nagent_id = "a"\nvoyce_id = "v"\n', "personas.calm.voyce_id"),
        ('[personas."bad name!"]\nagent_id = "a"\n', "bad name!"),
        ("[personas.calm\n", "personas_file"),
    ],
)
def test_a_bad_personas_file_names_the_persona_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None, personas_file=path)
    assert expected in str(info.value)


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no such file"):
        Settings(_env_file=None, personas_file=tmp_path / "missing.toml")
