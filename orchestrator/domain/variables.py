"""Dynamic variables by the provider's rules: names, values, the agent's declarations.

- values are string, number, integer or boolean — never objects or arrays (refused with their
  path, or JSON-encoded to a string where the campaign opts in), numbers within what JSON carries;
- names are exact and case-sensitive; `system__` is reserved by the provider;
- `secret__` values are only for tool headers: stored encrypted, never logged or reported;
- every variable the agent declares must be present, from the contact or a declared default;
- empty values are omitted (the provider wants absent fields, not empty strings or nulls).

The agent's declarations (`AgentVariable`, `AgentConfig`) live here too: they are read from the
settings, but they are rules of the domain, checked by the same functions as any value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from orchestrator.domain.text import holds_refused, text_problems
from orchestrator.errors import ValidationFailed

VariableType = Literal["string", "number", "integer", "boolean"]
Primitive = str | int | float | bool

SYSTEM_PREFIX = "system__"
SECRET_PREFIX = "secret__"  # noqa: S105  (a name prefix, not a secret)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-.]{0,127}$")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
#: A declared type with its article, for refusals ("expected an integer").
_A = {"string": "a string", "number": "a number", "integer": "an integer", "boolean": "a boolean"}
#: The largest magnitude a number may have: beyond it JSON consumers (and the provider) no
#: longer hold every integer exactly, so 2**53 + 1 would silently become 2**53.
SAFE_INTEGER = 2**53 - 1


def _in_range(value: int | float) -> int | float:
    """`value`, or ValueError when it is beyond ±(2**53 - 1)."""
    if abs(value) > SAFE_INTEGER:
        raise ValueError(
            "beyond ±(2**53 - 1) = ±9007199254740991, the largest numbers JSON carries exactly"
        )
    return value


def is_secret(name: str) -> bool:
    """True for variables the provider keeps away from the LLM (`secret__…`)."""
    return name.startswith(SECRET_PREFIX)


def check_name(name: str) -> str | None:
    """Why `name` cannot be a dynamic variable, or None when it can."""
    if name.startswith(SYSTEM_PREFIX):
        return "the system__ prefix is reserved by the provider"
    if not _NAME.fullmatch(name):
        return "names must start with a letter or underscore and use letters, digits, _ - ."
    return None


def coerce_text(raw: str, declared: AgentVariable | None) -> Primitive:
    """Turn text (a CSV cell) into the declared type.

    Raises:
        ValueError: the text is not a value of that type.
    """
    kind = declared.type if declared else "string"
    text = raw.strip()
    if kind == "string":
        return raw
    if kind == "integer":
        try:
            number = int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
        return _in_range(number)
    if kind == "number":
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {raw!r}")
        return _in_range(value)
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected a boolean (true/false), got {raw!r}")


def _encoded(
    value: dict[Any, Any] | list[Any] | tuple[Any, ...],
    declared: AgentVariable | None,
    encode: bool,
) -> str:
    """An object or array as the JSON text kept for it, or raise ValueError naming why not."""
    if not encode:
        raise ValueError("objects and arrays are not allowed; flatten or JSON-encode to a string")
    # Encoding makes text: only a variable that is text (or undeclared) may take it; a declared
    # number or boolean refuses an object like any other value not of its type.
    if declared is not None and declared.type != "string":
        raise ValueError(f"expected {_A[declared.type]}, got an object or array")
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _check_value(path: str, value: Any, declared: AgentVariable | None, encode: bool) -> Any:
    """Return the value to keep, or raise ValueError naming what is wrong."""
    if isinstance(value, dict | list | tuple):
        return _encoded(value, declared, encode)
    if value is not None and not isinstance(value, str | int | float | bool):
        raise ValueError(f"unsupported type {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    if isinstance(value, int | float) and not isinstance(value, bool):
        _in_range(value)
    if declared is None or value is None or value == "":
        return value  # empty values are dropped by the caller, whatever the declared type
    if isinstance(value, str) and declared.type != "string":
        return coerce_text(value, declared)
    if declared.type == "boolean" and not isinstance(value, bool):
        raise ValueError(f"expected a boolean, got {value!r}")
    if declared.type == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ValueError(f"expected an integer, got {value!r}")
    if declared.type == "number" and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        raise ValueError(f"expected a number, got {value!r}")
    if declared.type == "string" and not isinstance(value, str):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return value


def secret_safe(name: str, reason: str, value: Any) -> str:
    """`reason` with a `secret__` variable's value masked, so errors never carry a secret."""
    if is_secret(name) and value is not None:
        # The quoted form first, so no quotes are left around the mask.
        for shown in (repr(value), str(value)):
            if shown:
                reason = reason.replace(shown, "***")
    return reason


def check_declaration(name: str, declared: AgentVariable) -> AgentVariable:
    """`declared` held to the rules of a value: its default is sent unchecked on every call.

    A default given as text for a number, integer or boolean is read as a CSV cell would be
    (`"7"` → 7), and one of another type for a string variable is made text, as a value is.

    Args:
        name: the variable's name.
        declared: its declaration.

    Returns:
        The declaration, its default kept as the rules keep a value.

    Raises:
        ValueError: the name cannot be a variable's, or the default is empty or not a value of
            the declared type (a `secret__` default is masked in the reason).
    """
    reason = check_name(name)
    if reason:
        raise ValueError(reason)
    default = declared.default
    if default is None:
        return declared
    if default == "":
        raise ValueError("default: empty values are never sent; leave the default out")
    bad_text = text_problems(default)
    if bad_text:
        raise ValueError(f"default: {secret_safe(name, bad_text[0][1], default)}")
    try:
        kept = _check_value(name, default, declared, encode=False)
    except ValueError as exc:
        raise ValueError(f"default: {secret_safe(name, str(exc), default)}") from None
    return declared if kept is default else declared.model_copy(update={"default": kept})


def clean_variables(
    variables: Mapping[str, Any],
    agent: AgentConfig,
    *,
    encode_objects: bool = False,
    prefix: str = "dynamic_variables",
    provided: Collection[str] = (),
    require: bool = True,
) -> dict[str, Primitive]:
    """Validate one contact's variables against the agent; empty values are dropped.

    Args:
        variables: name → value as given.
        agent: the declared variables (types, defaults).
        encode_objects: JSON-encode objects and arrays to a string instead of refusing them.
        prefix: the path reported before each name.
        provided: names that get a value elsewhere (campaign defaults, carried context), so a
            declared variable among them is not required here.
        require: refuse when a declared variable without default is missing.

    Raises:
        ValidationFailed: every problem found, each with its path and reason.
    """
    problems: list[tuple[str, str]] = []
    cleaned: dict[str, Primitive] = {}
    refused: set[str] = set()  # reported already: not "missing" as well
    # One search over every name and value; each variable is looked into only when it found some.
    odd_text = holds_refused(variables)
    for name, value in variables.items():
        path = f"{prefix}.{name}"
        # Text that cannot be carried first: its reason is clearer than the name rule's.
        bad_text = text_problems({name: value}, prefix) if odd_text else []
        if bad_text:
            problems.extend(bad_text)
            refused.add(name)
            continue
        reason = check_name(name) if isinstance(name, str) else "names must be text"
        if reason:
            problems.append((path, reason))
            continue
        try:
            kept = _check_value(path, value, agent.variables.get(name), encode_objects)
        except ValueError as exc:
            problems.append((path, secret_safe(name, str(exc), value)))
            continue
        if kept is None or kept == "":
            continue
        cleaned[name] = kept
    if require:
        for name in missing_required(cleaned.keys() | refused, agent, provided):
            problems.append((f"{prefix}.{name}", "required by the agent and has no default"))
    if problems:
        raise ValidationFailed(problems)
    return cleaned


def missing_required(
    present: Collection[str], agent: AgentConfig, provided: Collection[str] = ()
) -> list[str]:
    """Declared variables with no default that neither `present` nor `provided` covers."""
    return [
        name
        for name, declared in agent.variables.items()
        if declared.default is None and name not in present and name not in provided
    ]


def with_defaults(variables: Mapping[str, Primitive], agent: AgentConfig) -> dict[str, Primitive]:
    """Every declared variable present: the contact's value, else the declared default."""
    merged: dict[str, Primitive] = {
        name: declared.default
        for name, declared in agent.variables.items()
        if declared.default is not None
    }
    merged.update(variables)
    return merged


class AgentVariable(BaseModel):
    """One dynamic variable the agent's prompt declares (`{{name}}`)."""

    type: VariableType = "string"
    default: Primitive | None = None
    description: str = ""


class AgentConfig(BaseModel):
    """What we know of an agent configured on the provider's side."""

    variables: dict[str, AgentVariable] = Field(default_factory=dict)
    allowed_overrides: list[str] = Field(default_factory=list)

    @field_validator("variables")
    @classmethod
    def _held_to_the_variable_rules(
        cls, variables: dict[str, AgentVariable]
    ) -> dict[str, AgentVariable]:
        """Refuse at load what the variable rules refuse: defaults go out unchecked on every call.

        Every problem is named with its variable (the error's location names the agent).
        """
        checked: dict[str, AgentVariable] = {}
        problems: list[str] = []
        for name, declared in variables.items():
            try:
                checked[name] = check_declaration(name, declared)
            except ValueError as exc:
                problems.append(f"variable {name!r}: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return checked


def redact(variables: Mapping[str, Any]) -> dict[str, Any]:
    """A copy safe for logs, reports and API answers: `secret__` values masked."""
    return {k: ("***" if isinstance(k, str) and is_secret(k) else v) for k, v in variables.items()}
