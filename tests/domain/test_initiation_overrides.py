"""Overrides: only the fields the provider allows, only the kinds the campaign allows."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain import overrides as ov
from orchestrator.domain.campaign_policy import OVERRIDABLE
from orchestrator.errors import ValidationFailed

ALL = set(OVERRIDABLE)


def problems(raw: Any, allowed: set[str] = ALL) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as info:
        ov.clean_overrides(raw, allowed)
    return dict(info.value.problems)


def test_every_kind_a_campaign_may_allow_has_fields() -> None:
    assert {f.kind for f in ov.FIELDS} == ALL


def test_the_provider_shape_is_accepted_and_kept() -> None:
    given = {
        "agent": {
            "prompt": {"prompt": "Be brief.", "llm": "gpt-4o-mini"},
            "first_message": "Hi {{customer_name}}",
            "language": "en",
        },
        "tts": {"voice_id": "v1", "stability": 0.5, "speed": 1.0, "similarity_boost": 0.8},
    }
    assert ov.clean_overrides(given, ALL) == given


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"agent": {"tools": ["x"]}}, "overrides.agent.tools"),
        ({"conversation": {"text_only": True}}, "overrides.conversation"),
        ({"agent": {"prompt": {"temperature": 0.3}}}, "overrides.agent.prompt.temperature"),
        ({"agent": "x"}, "overrides.agent"),
        ({"tts": {"speed": 2.0}}, "overrides.tts.speed"),
        ({"tts": {"stability": -0.1}}, "overrides.tts.stability"),
        ({"tts": {"stability": True}}, "overrides.tts.stability"),
        ({"tts": {"voice_id": 3}}, "overrides.tts.voice_id"),
        ({"agent": {"language": "english please"}}, "overrides.agent.language"),
        ({"agent": {"first_message": {"text": "hi"}}}, "overrides.agent.first_message"),
    ],
)
def test_fields_beyond_the_allowed_ones_are_refused_with_their_path(
    raw: dict[str, Any], path: str
) -> None:
    assert path in problems(raw)


def test_not_an_object_is_refused() -> None:
    assert "overrides" in problems(["agent"])


@given(st.sampled_from(ov.FIELDS), st.sets(st.sampled_from(sorted(ALL))))
def test_a_field_is_accepted_exactly_when_its_kind_is_allowed(
    field: ov.OverrideField, allowed: set[str]
) -> None:
    value: Any = 1.0 if field.number_range else ("en" if field.kind == "language" else "text")
    raw = ov.merge({}, dict(_nest(field.path, value)))
    if field.kind in allowed:
        assert ov.kinds_of(ov.clean_overrides(raw, allowed)) == {field.kind}
    else:
        reason = problems(raw, allowed)[f"overrides.{field.dotted}"]
        assert field.kind in reason and "allowed_overrides" in reason


@given(st.sampled_from(ov.FIELDS), st.sampled_from(["", "   ", None]))
def test_empty_values_are_omitted_not_sent(field: ov.OverrideField, empty: Any) -> None:
    raw = _nest(field.path, empty)
    assert ov.clean_overrides(raw, set()) == {}


leaf_values = st.one_of(st.text(min_size=1, max_size=5), st.floats(0, 1))


@given(
    st.dictionaries(st.sampled_from(ov.FIELDS), leaf_values, max_size=4),
    st.dictionaries(st.sampled_from(ov.FIELDS), leaf_values, max_size=4),
)
def test_merge_keeps_every_leaf_and_the_later_layer_wins(
    low: dict[ov.OverrideField, Any], high: dict[ov.OverrideField, Any]
) -> None:
    def nested(leaves: dict[ov.OverrideField, Any]) -> dict[str, Any]:
        return ov.merge(*(_nest(f.path, v) for f, v in leaves.items()))

    merged = dict(ov.flatten(ov.merge(nested(low), nested(high))))
    expected = {f.path: v for f, v in {**low, **high}.items()}
    assert merged == expected


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    node: Any = value
    for key in reversed(path):
        node = {key: node}
    assert isinstance(node, dict)
    return node


# --- dotted keys: `agent.first_message` is the nested `{"agent": {"first_message": ...}}` -------


def test_dotted_keys_are_expanded_to_the_provider_shape() -> None:
    dotted = {
        "agent.prompt.prompt": "Be brief.",
        "agent.prompt.llm": "gpt-4o-mini",
        "agent.first_message": "Hi {{customer_name}}",
        "agent.language": "en",
        "tts.voice_id": "v1",
        "tts.stability": 0.5,
        "tts.speed": 1.0,
        "tts.similarity_boost": 0.8,
    }
    nested = {
        "agent": {
            "prompt": {"prompt": "Be brief.", "llm": "gpt-4o-mini"},
            "first_message": "Hi {{customer_name}}",
            "language": "en",
        },
        "tts": {"voice_id": "v1", "stability": 0.5, "speed": 1.0, "similarity_boost": 0.8},
    }
    assert ov.clean_overrides(dotted, ALL) == nested


def test_the_two_forms_mix_at_any_level() -> None:
    raw = {"agent": {"prompt.llm": "gpt-4o-mini", "language": "en"}, "agent.first_message": "Hi"}
    assert ov.clean_overrides(raw, ALL) == {
        "agent": {"prompt": {"llm": "gpt-4o-mini"}, "language": "en", "first_message": "Hi"}
    }


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"agent.first_message": "Hi", "agent": {"first_message": "Hello"}}, "agent.first_message"),
        ({"agent": {"first_message": "Hi"}, "agent.first_message": "Hi"}, "agent.first_message"),
        ({"agent.prompt": {"llm": "a"}, "agent": {"prompt.llm": "b"}}, "agent.prompt.llm"),
        ({"agent": "x", "agent.language": "en"}, "agent"),
        ({"agent": None, "agent.language": "en"}, "agent"),
        ({"tts.speed": 1.0, "tts.speed.x": 1.0}, "tts.speed"),
    ],
)
def test_a_field_given_both_dotted_and_nested_is_refused_naming_it(
    raw: dict[str, Any], path: str
) -> None:
    found = problems(raw)
    assert list(found) == [f"overrides.{path}"]
    assert "given twice" in found[f"overrides.{path}"]


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"agent.tools": ["x"]}, "overrides.agent.tools"),
        ({"agent..language": "en"}, "overrides.agent..language"),
        ({".agent": "x"}, "overrides..agent"),
        ({"tts.speed": 2.0}, "overrides.tts.speed"),
        ({"agent.language": "english please"}, "overrides.agent.language"),
    ],
)
def test_dotted_keys_are_checked_like_nested_ones(raw: dict[str, Any], path: str) -> None:
    assert path in problems(raw)


def test_a_dotted_field_is_held_to_allowed_overrides() -> None:
    reason = problems({"agent.first_message": "Hi"}, {"prompt"})["overrides.agent.first_message"]
    assert "allowed_overrides" in reason
