"""`conversation_initiation_client_data`: the layers of one call merged and checked.

`compose_initiation` merges the layers of one call, lowest first: the agent's declared defaults,
the campaign's default variables, the context carried from the last call, the contact's
variables, this call's variables; overrides from the persona, then the contact, then the call.
Variables follow `domain/variables.py`; overrides only the fields the campaign allows
(`domain/overrides.py`); a persona is a named set of overrides (`domain/persona.py`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from orchestrator.domain import overrides as ov
from orchestrator.domain.persona import Persona
from orchestrator.domain.variables import AgentConfig, Primitive, clean_variables, with_defaults
from orchestrator.errors import ValidationFailed


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


def _non_empty(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v != ""}


def compose_initiation(
    *,
    agent: AgentConfig,
    user_id: str | None,
    campaign_defaults: Mapping[str, Any] = {},
    context: Mapping[str, Any] = {},
    contact: Mapping[str, Any] = {},
    call: Mapping[str, Any] = {},
    persona: Persona | None = None,
    overrides: Sequence[Mapping[str, Any]] = (),
    allowed_overrides: Collection[str] = (),
    encode_objects: bool = False,
) -> dict[str, Any]:
    """The `conversation_initiation_client_data` of one call, from every layer, checked.

    An empty value in a layer never hides a lower layer's value: it is dropped first.

    Raises:
        ValidationFailed: a variable breaks the rules, a declared variable is missing, or an
            override (the persona's included) is not allowed.
    """
    merged: dict[str, Any] = {}
    for layer in (campaign_defaults, context, contact, call):
        merged.update(_non_empty(layer))
    variables = clean_variables(merged, agent, encode_objects=encode_objects)
    layers: list[Mapping[str, Any]] = []
    problems: list[tuple[str, str]] = []
    if persona is not None:
        layers.append(persona.overrides())
    layers.extend(overrides)
    merged_overrides = ov.merge(*layers)
    try:
        checked = ov.clean_overrides(
            merged_overrides, allowed_overrides, prefix="conversation_config_override"
        )
    except ValidationFailed as exc:
        problems.extend(exc.problems)
        checked = {}
    if problems:
        raise ValidationFailed(problems)
    return build_initiation_data(
        variables=variables, agent=agent, user_id=user_id, overrides=checked
    )
