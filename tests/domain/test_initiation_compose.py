"""One call's initiation data from every layer: precedence, defaults, overrides, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain.initiation import compose_initiation
from orchestrator.domain.persona import Persona
from orchestrator.domain.text import text_problem
from orchestrator.domain.variables import AgentConfig, AgentVariable, clean_variables, secret_safe
from orchestrator.errors import ValidationFailed

AGENT = AgentConfig(
    variables={
        "customer_name": AgentVariable(type="string"),
        "plan": AgentVariable(type="string", default="basic"),
        "visits": AgentVariable(type="integer", default=0),
    }
)

LAYERS = ("campaign_defaults", "context", "contact", "call")
names = st.sampled_from(["customer_name", "plan", "note", "last_call_summary"])
#: Text we can carry (what cannot be carried is refused first: tests/domain/test_text.py).
carried = st.characters(blacklist_categories=("Cs", "Cc")).filter(lambda c: not text_problem(c))
values = st.one_of(
    st.text(carried, min_size=1, max_size=4), st.integers(-(2**53 - 1), 2**53 - 1), st.booleans()
)
layer = st.dictionaries(names, st.one_of(values, st.just(""), st.none()), max_size=4)


@given(st.fixed_dictionaries({name: layer for name in LAYERS}))
def test_the_highest_non_empty_layer_wins(layers: dict[str, dict[str, Any]]) -> None:
    layers["contact"] = {**layers["contact"], "customer_name": "Ada"}
    data = compose_initiation(agent=AGENT, user_id="crm-1", **layers)
    dynamic = data["dynamic_variables"]
    for name in ("plan", "note", "last_call_summary"):
        given = [
            layers[n][name]
            for n in LAYERS
            if layers[n].get(name) is not None and layers[n].get(name) != ""
        ]
        if given:
            expected = given[-1]
            if name == "plan" and not isinstance(expected, str):
                expected = str(expected).lower() if isinstance(expected, bool) else str(expected)
            assert dynamic[name] == expected
        elif name == "plan":
            assert dynamic[name] == "basic"  # the agent's declared default
        else:
            assert name not in dynamic


def test_a_full_call() -> None:
    persona = Persona(agent_id="a", first_message="Hi {{customer_name}}", voice_id="v_maya")
    data = compose_initiation(
        agent=AGENT,
        user_id="crm-42",
        campaign_defaults={"plan": "gold"},
        context={"last_call_summary": "asked for a callback"},
        contact={"customer_name": "Ada", "secret__token": "tok"},
        call={"visits": 3},
        persona=persona,
        overrides=[{"agent": {"language": "en"}}, {"tts": {"voice_id": "v_call"}}],
        allowed_overrides={"first_message", "voice", "language"},
    )
    assert data == {
        "type": "conversation_initiation_client_data",
        "dynamic_variables": {
            "customer_name": "Ada",
            "plan": "gold",
            "visits": 3,
            "last_call_summary": "asked for a callback",
            "secret__token": "tok",
        },
        "conversation_config_override": {
            "agent": {"first_message": "Hi {{customer_name}}", "language": "en"},
            "tts": {"voice_id": "v_call"},
        },
        "user_id": "crm-42",
    }


def test_a_missing_required_variable_is_refused() -> None:
    with pytest.raises(ValidationFailed) as info:
        compose_initiation(agent=AGENT, user_id="x", contact={"plan": "p"})
    assert info.value.problems == [
        ("dynamic_variables.customer_name", "required by the agent and has no default")
    ]


def test_overrides_the_campaign_does_not_allow_are_refused_even_from_a_persona() -> None:
    persona = Persona(agent_id="a", prompt="Be loud.")
    with pytest.raises(ValidationFailed) as info:
        compose_initiation(
            agent=AGENT,
            user_id="x",
            contact={"customer_name": "Ada"},
            persona=persona,
            allowed_overrides={"voice"},
        )
    [(path, reason)] = info.value.problems
    assert path == "conversation_config_override.agent.prompt.prompt"
    assert "prompt" in reason


def test_no_overrides_means_no_override_object() -> None:
    data = compose_initiation(agent=AGENT, user_id="x", contact={"customer_name": "Ada"})
    assert "conversation_config_override" not in data


def test_provided_names_count_as_present() -> None:
    assert clean_variables({}, AGENT, provided={"customer_name"}) == {}
    assert clean_variables({}, AGENT, require=False) == {}


@given(st.text(min_size=3, max_size=12).filter(lambda t: t.strip() == t and t.isprintable()))
def test_reasons_about_a_secret_never_carry_its_value(value: str) -> None:
    reason = secret_safe("secret__pin", f"expected an integer, got {value!r}", value)
    assert reason == "expected an integer, got ***"
    assert secret_safe("pin", f"got {value!r}", value) == f"got {value!r}"
