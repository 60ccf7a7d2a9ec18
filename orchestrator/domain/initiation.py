"""Dynamic variables and `conversation_initiation_client_data`, by the provider's rules.

- values are string, number, integer or boolean — never objects or arrays (refused with their
  path, or JSON-encoded to a string where the campaign opts in);
- names are exact and case-sensitive; `system__` is reserved by the provider;
- `secret__` values are only for tool headers: stored encrypted, never logged or reported;
- every variable the agent declares must be present, from the contact or a declared default;
- empty values are omitted (the provider wants absent fields, not empty strings or nulls).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from orchestrator.errors import ValidationFailed
from orchestrator.settings import AgentConfig, AgentVariable, Primitive

SYSTEM_PREFIX = "system__"
SECRET_PREFIX = "secret__"  # noqa: S105  (a name prefix, not a secret)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-.]{0,127}$")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


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
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
    if kind == "number":
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {raw!r}")
        return value
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected a boolean (true/false), got {raw!r}")


def _check_value(path: str, value: Any, declared: AgentVariable | None, encode: bool) -> Any:
    """Return the value to keep, or raise ValueError naming what is wrong."""
    if isinstance(value, dict | list | tuple):
        if encode:
            return json.dumps(value, separators=(",", ":"), sort_keys=True)
        raise ValueError("objects and arrays are not allowed; flatten or JSON-encode to a string")
    if value is not None and not isinstance(value, str | int | float | bool):
        raise ValueError(f"unsupported type {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
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


def clean_variables(
    variables: Mapping[str, Any],
    agent: AgentConfig,
    *,
    encode_objects: bool = False,
    prefix: str = "dynamic_variables",
) -> dict[str, Primitive]:
    """Validate one contact's variables against the agent; empty values are dropped.

    Raises:
        ValidationFailed: every problem found, each with its path and reason.
    """
    problems: list[tuple[str, str]] = []
    cleaned: dict[str, Primitive] = {}
    for name, value in variables.items():
        path = f"{prefix}.{name}"
        reason = check_name(name)
        if reason:
            problems.append((path, reason))
            continue
        try:
            kept = _check_value(path, value, agent.variables.get(name), encode_objects)
        except ValueError as exc:
            problems.append((path, str(exc)))
            continue
        if kept is None or kept == "":
            continue
        cleaned[name] = kept
    for name, declared in agent.variables.items():
        if name not in cleaned and declared.default is None:
            problems.append((f"{prefix}.{name}", "required by the agent and has no default"))
    if problems:
        raise ValidationFailed(problems)
    return cleaned


def with_defaults(variables: Mapping[str, Primitive], agent: AgentConfig) -> dict[str, Primitive]:
    """Every declared variable present: the contact's value, else the declared default."""
    merged: dict[str, Primitive] = {
        name: declared.default
        for name, declared in agent.variables.items()
        if declared.default is not None
    }
    merged.update(variables)
    return merged


def build_initiation_data(
    *,
    variables: Mapping[str, Primitive],
    agent: AgentConfig,
    user_id: str | None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `conversation_initiation_client_data` sent with one dial."""
    data: dict[str, Any] = {"type": "conversation_initiation_client_data"}
    dynamic = with_defaults(variables, agent)
    if dynamic:
        data["dynamic_variables"] = dynamic
    if overrides:
        data["conversation_config_override"] = dict(overrides)
    if user_id:
        data["user_id"] = user_id
    return data


def redact(variables: Mapping[str, Any]) -> dict[str, Any]:
    """A copy safe for logs, reports and API answers: `secret__` values masked."""
    return {k: ("***" if is_secret(k) else v) for k, v in variables.items()}
