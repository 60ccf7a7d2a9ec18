"""Dynamic-variable rules (reference §1) and the initiation data sent with a dial."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain.initiation import build_initiation_data
from orchestrator.domain.text import text_problem
from orchestrator.domain.variables import (
    AgentConfig,
    AgentVariable,
    check_name,
    clean_variables,
    coerce_text,
    redact,
    with_defaults,
)
from orchestrator.errors import ValidationFailed

#: Text we can carry (`domain/text.py`; what cannot be carried is refused first, see test_text).
carried = st.characters(blacklist_categories=("Cs", "Cc")).filter(lambda c: not text_problem(c))

OPEN = AgentConfig()  # an agent that declares nothing: only the generic rules apply

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}", fullmatch=True).filter(
    lambda n: not n.startswith("system__")
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(carried, max_size=10),
)
containers = st.one_of(
    st.lists(st.recursive(scalars, lambda c: st.lists(c) | st.dictionaries(st.text(carried), c))),
    st.dictionaries(st.text(carried, max_size=5), scalars | st.lists(scalars), max_size=4),
)
#: Numbers JSON carries exactly (beyond ±(2**53 - 1) a value is refused).
SAFE = 2**53 - 1
safe_integers = st.integers(-SAFE, SAFE)
safe_floats = st.floats(-SAFE, SAFE, allow_nan=False)
primitives = st.one_of(st.booleans(), safe_integers, safe_floats, st.text(carried, min_size=1))


def problems_of(variables: dict[str, Any], agent: AgentConfig = OPEN) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as info:
        clean_variables(variables, agent)
    return dict(info.value.problems)


# --- values ---------------------------------------------------------------------------------


@given(names, containers)
def test_objects_and_arrays_are_refused_with_their_path(name: str, value: Any) -> None:
    problems = problems_of({name: value, "ok": "fine"})
    assert list(problems) == [f"dynamic_variables.{name}"]
    assert "objects and arrays" in problems[f"dynamic_variables.{name}"]


@given(names, containers)
def test_objects_and_arrays_are_json_encoded_when_asked(name: str, value: Any) -> None:
    cleaned = clean_variables({name: value}, OPEN, encode_objects=True)
    assert isinstance(cleaned[name], str)
    assert json.loads(cleaned[name]) == value


@given(st.dictionaries(names, primitives, max_size=6))
def test_primitive_values_pass_unchanged(variables: dict[str, Any]) -> None:
    assert clean_variables(variables, OPEN) == variables


@given(names, st.sampled_from(["", None]))
def test_empty_strings_and_none_are_dropped(name: str, empty: Any) -> None:
    assert clean_variables({name: empty, "kept": 0}, OPEN) == {"kept": 0}


@pytest.mark.parametrize("name", ["visits", "balance", "vip", "customer_name"])
@pytest.mark.parametrize("empty", ["", None])
def test_empty_values_of_declared_variables_are_dropped_not_refused(
    name: str, empty: Any, agent: AgentConfig
) -> None:
    given_values = {"customer_name": "Ada", name: empty}
    if name == "customer_name":
        # dropped, so the required variable is then missing
        assert problems_of(given_values, agent) == {
            "dynamic_variables.customer_name": "required by the agent and has no default"
        }
    else:
        assert clean_variables(given_values, agent) == {"customer_name": "Ada"}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -math.inf])
def test_non_finite_numbers_are_refused(value: float) -> None:
    assert "finite" in problems_of({"x": value})["dynamic_variables.x"]


def test_other_python_types_are_refused() -> None:
    assert "unsupported type" in problems_of({"x": b"bytes"})["dynamic_variables.x"]


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of({"system__call_sid": "CA1", "a": [1], "b": {"c": 1}})
    assert set(problems) == {
        "dynamic_variables.system__call_sid",
        "dynamic_variables.a",
        "dynamic_variables.b",
    }


def test_prefix_names_the_path() -> None:
    with pytest.raises(ValidationFailed) as info:
        clean_variables({"a": [1]}, OPEN, prefix="variables")
    assert info.value.problems[0][0] == "variables.a"


# --- names ----------------------------------------------------------------------------------


@given(st.text(carried, max_size=20))
def test_system_prefix_is_always_refused(suffix: str) -> None:
    name = "system__" + suffix
    assert check_name(name) is not None
    assert f"dynamic_variables.{name}" in problems_of({name: "x"})


@pytest.mark.parametrize(
    "name", ["", "1abc", "has space", "semi;colon", "x" * 129, "trailing\n", "brace}}"]
)
def test_invalid_names_are_refused(name: str) -> None:
    assert check_name(name) is not None


@pytest.mark.parametrize("name", ["a", "_x", "customer_name", "secret__token", "a-b.c", "x" * 128])
def test_valid_names_are_accepted(name: str) -> None:
    assert check_name(name) is None


def test_names_are_case_sensitive() -> None:
    agent = AgentConfig(variables={"name": AgentVariable(type="string")})
    # `Name` does not satisfy the declared `name` ...
    assert problems_of({"Name": "Ada"}, agent) == {
        "dynamic_variables.name": "required by the agent and has no default"
    }
    # ... and both may coexist as two variables.
    assert clean_variables({"name": "Ada", "Name": "ADA"}, agent) == {"name": "Ada", "Name": "ADA"}


# --- declared variables ---------------------------------------------------------------------


@pytest.fixture
def agent() -> AgentConfig:
    return AgentConfig(
        variables={
            "customer_name": AgentVariable(type="string"),
            "balance": AgentVariable(type="number", default=0),
            "visits": AgentVariable(type="integer", default=0),
            "vip": AgentVariable(type="boolean", default=False),
        }
    )


def test_declared_but_missing_without_default_is_refused(agent: AgentConfig) -> None:
    assert problems_of({"balance": 3}, agent) == {
        "dynamic_variables.customer_name": "required by the agent and has no default"
    }


def test_declared_with_default_is_filled_by_build_initiation_data(agent: AgentConfig) -> None:
    cleaned = clean_variables({"customer_name": "Ada"}, agent)
    assert cleaned == {"customer_name": "Ada"}  # defaults are not stored per contact
    data = build_initiation_data(variables=cleaned, agent=agent, user_id="crm-1")
    assert data == {
        "type": "conversation_initiation_client_data",
        "dynamic_variables": {"customer_name": "Ada", "balance": 0, "visits": 0, "vip": False},
        "user_id": "crm-1",
    }


def test_contact_values_win_over_defaults(agent: AgentConfig) -> None:
    merged = with_defaults({"customer_name": "Ada", "visits": 4}, agent)
    assert merged == {"customer_name": "Ada", "balance": 0, "visits": 4, "vip": False}


def test_declared_types_are_enforced_and_text_is_coerced(agent: AgentConfig) -> None:
    cleaned = clean_variables(
        {"customer_name": "Ada", "balance": "12.5", "visits": 3.0, "vip": "yes"}, agent
    )
    assert cleaned == {"customer_name": "Ada", "balance": 12.5, "visits": 3, "vip": True}
    assert type(cleaned["visits"]) is int


@pytest.mark.parametrize(
    ("name", "value"),
    [("visits", 2.5), ("visits", True), ("vip", 1), ("balance", False), ("visits", "many")],
)
def test_wrong_types_for_declared_variables_are_refused(
    agent: AgentConfig, name: str, value: Any
) -> None:
    assert f"dynamic_variables.{name}" in problems_of({"customer_name": "Ada", name: value}, agent)


@pytest.mark.parametrize(("value", "text"), [(True, "true"), (42, "42"), (1.5, "1.5")])
def test_declared_strings_stringify_primitives(agent: AgentConfig, value: Any, text: str) -> None:
    assert clean_variables({"customer_name": value}, agent)["customer_name"] == text


def test_build_initiation_data_omits_what_is_empty() -> None:
    assert build_initiation_data(variables={}, agent=OPEN, user_id=None) == {
        "type": "conversation_initiation_client_data"
    }


def test_build_initiation_data_carries_overrides() -> None:
    overrides = {"agent": {"first_message": "Hi {{customer_name}}"}}
    data = build_initiation_data(variables={"a": 1}, agent=OPEN, user_id="", overrides=overrides)
    assert data["conversation_config_override"] == overrides
    assert "user_id" not in data


# --- coerce_text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("string", "  Ada  ", "  Ada  "),
        ("integer", " 42 ", 42),
        ("integer", "-7", -7),
        ("number", "12.5", 12.5),
        ("number", "3", 3.0),
        ("boolean", "TRUE", True),
        ("boolean", " yes ", True),
        ("boolean", "1", True),
        ("boolean", "No", False),
        ("boolean", "0", False),
        ("boolean", "false", False),
    ],
)
def test_coerce_text_by_declared_type(kind: Any, text: str, expected: Any) -> None:
    value = coerce_text(text, AgentVariable(type=kind))
    assert value == expected
    assert type(value) is type(expected)


def test_coerce_text_undeclared_is_text() -> None:
    assert coerce_text("007", None) == "007"


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("integer", "4.5"),
        ("integer", "four"),
        ("integer", ""),
        ("number", "abc"),
        ("number", "nan"),
        ("number", "inf"),
        ("boolean", "maybe"),
        ("boolean", ""),
    ],
)
def test_coerce_text_refuses_bad_input(kind: Any, text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        coerce_text(text, AgentVariable(type=kind))


@given(safe_integers)
def test_coerce_text_integers_round_trip(value: int) -> None:
    assert coerce_text(str(value), AgentVariable(type="integer")) == value


@given(safe_floats)
def test_coerce_text_numbers_round_trip(value: float) -> None:
    assert coerce_text(repr(value), AgentVariable(type="number")) == value


# --- redact ---------------------------------------------------------------------------------


def test_redact_masks_only_secret_values() -> None:
    variables = {"customer_name": "Ada", "secret__token": "tok_123", "secret__pin": 1234}
    redacted = redact(variables)
    assert redacted == {"customer_name": "Ada", "secret__token": "***", "secret__pin": "***"}
    assert variables["secret__token"] == "tok_123"  # the original is untouched


@given(st.dictionaries(names, primitives, max_size=5), st.text(min_size=1, max_size=20))
def test_redact_never_lets_a_secret_through(variables: dict[str, Any], secret: str) -> None:
    redacted = redact({**variables, "secret__key": secret})
    assert redacted["secret__key"] == "***"
    assert {k: v for k, v in redacted.items() if not k.startswith("secret__")} == {
        k: v for k, v in variables.items() if not k.startswith("secret__")
    }


# --- encode_objects keeps the declared type --------------------------------------------------


@pytest.mark.parametrize("kind", ["integer", "number", "boolean"])
@pytest.mark.parametrize("value", [[1], {"a": 1}, [], {}])
def test_an_object_for_a_declared_non_text_variable_is_refused_even_when_encoding(
    kind: str, value: Any
) -> None:
    agent = AgentConfig(variables={"visits": AgentVariable(type=kind)})
    with pytest.raises(ValidationFailed) as info:
        clean_variables({"visits": value}, agent, encode_objects=True)
    # (Also reported as missing: refused, it leaves the declared variable without a value.)
    reasons = [
        reason for field, reason in info.value.problems if field == "dynamic_variables.visits"
    ]
    assert any("object or array" in reason for reason in reasons), reasons


@pytest.mark.parametrize("agent", [OPEN, AgentConfig(variables={"tags": AgentVariable()})])
def test_an_object_for_a_text_or_undeclared_variable_is_encoded(agent: AgentConfig) -> None:
    cleaned = clean_variables({"tags": ["a", 1]}, agent, encode_objects=True)
    assert cleaned == {"tags": '["a",1]'}


def test_a_secret_object_refusal_does_not_show_the_value() -> None:
    agent = AgentConfig(variables={"secret__pin": AgentVariable(type="integer")})
    with pytest.raises(ValidationFailed) as info:
        clean_variables({"secret__pin": {"pin": 98765}}, agent, encode_objects=True)
    assert "98765" not in str(info.value.problems)


@pytest.mark.parametrize(
    ("declared", "value"),
    [
        ("integer", 123456789012345678901234),
        ("integer", -(2**53)),
        ("integer", 1e20),  # an integral float beyond the range
        ("integer", "123456789012345678901234"),  # as text (a CSV cell)
        ("number", 10**24),
        ("number", "1" * 24),
        (None, 10**24),  # undeclared: an integer is still an integer
    ],
)
def test_integers_beyond_what_json_carries_exactly_are_refused(
    declared: str | None, value: object
) -> None:
    agent = (
        AgentConfig(variables={"n": AgentVariable(type=declared, default=0)})  # type: ignore[arg-type]
        if declared
        else OPEN
    )
    with pytest.raises(ValidationFailed) as caught:
        clean_variables({"n": value}, agent)
    [(field, reason)] = caught.value.problems
    assert field == "dynamic_variables.n"
    assert "2**53" in reason


@pytest.mark.parametrize("declared", ["integer", "number", None])
def test_the_largest_exact_integers_pass(declared: str | None) -> None:
    agent = (
        AgentConfig(variables={"n": AgentVariable(type=declared)})  # type: ignore[arg-type]
        if declared
        else OPEN
    )
    assert clean_variables({"n": SAFE, "m": -SAFE}, agent)["n"] == SAFE


@pytest.mark.parametrize("declared", ["integer", "number"])
def test_booleans_are_not_numbers(declared: str) -> None:
    agent = AgentConfig(variables={"weight": AgentVariable(type=declared, default=1)})  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed) as caught:
        clean_variables({"weight": True}, agent)
    assert caught.value.problems[0][0] == "dynamic_variables.weight"
