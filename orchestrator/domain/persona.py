"""Personas: named characters of one agent (system prompt, first message, voice, language...).

A persona is a set of overrides with a name, defined in `config/personas.toml`. A call, a contact
or a campaign picks one (in that order of precedence); its fields become
`conversation_config_override` entries, so each must be a kind the campaign allows.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.domain.overrides import kinds_of, merge
from orchestrator.domain.text import text_problem

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]{0,99}$")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_\-.]+)\s*\}\}")

#: Persona field → its path in `conversation_config_override`.
PERSONA_PATHS: dict[str, tuple[str, ...]] = {
    "prompt": ("agent", "prompt", "prompt"),
    "llm": ("agent", "prompt", "llm"),
    "first_message": ("agent", "first_message"),
    "language": ("agent", "language"),
    "voice_id": ("tts", "voice_id"),
    "stability": ("tts", "stability"),
    "speed": ("tts", "speed"),
    "similarity_boost": ("tts", "similarity_boost"),
}


class Persona(BaseModel):
    """One character of an agent; every field but `agent_id` is optional (omitted = not sent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_id: str = Field(min_length=1, description="The agent this character belongs to")
    description: str = ""
    prompt: str | None = Field(default=None, description="System prompt (agent.prompt.prompt)")
    first_message: str | None = None
    language: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")
    voice_id: str | None = None
    llm: str | None = None
    stability: float | None = Field(default=None, ge=0.0, le=1.0)
    speed: float | None = Field(default=None, ge=0.7, le=1.2)
    similarity_boost: float | None = Field(default=None, ge=0.0, le=1.0)

    @field_validator("prompt", "first_message", "language", "voice_id", "llm", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        """An empty text is not an override (the provider wants absent fields, not blanks)."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("agent_id", "description", "prompt", "first_message", "voice_id", "llm")
    @classmethod
    def _carried(cls, value: str | None) -> str | None:
        """Text the provider can receive (`domain/text.py`): every call of the persona sends it,
        so a NUL or a stray control character would fail them all."""
        reason = text_problem(value) if value else None
        if reason:
            raise ValueError(reason)
        return value

    def overrides(self) -> dict[str, Any]:
        """This persona as a nested `conversation_config_override`."""
        out: dict[str, Any] = {}
        for name, path in PERSONA_PATHS.items():
            value = getattr(self, name)
            if value is not None:
                out = merge(out, _nest(path, value))
        return out

    def placeholders(self) -> set[str]:
        """Dynamic variables (`{{name}}`) its prompt and first message use."""
        text = " ".join(t for t in (self.prompt, self.first_message) if t)
        return set(_PLACEHOLDER.findall(text))


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    node: Any = value
    for key in reversed(path):
        node = {key: node}
    assert isinstance(node, dict)
    return node


def check_persona_name(name: str) -> str | None:
    """Why `name` cannot name a persona, or None."""
    if not _NAME.fullmatch(name):
        return "names use letters, digits, _ - . (at most 100 characters)"
    return None


def persona_problem(
    name: str | None,
    personas: Mapping[str, Persona],
    agent_id: str,
    allowed: Collection[str],
) -> str | None:
    """Why the persona `name` cannot be used by a campaign of `agent_id`, or None when it can."""
    if name is None:
        return None
    persona = personas.get(name)
    if persona is None:
        known = sorted(n for n, p in personas.items() if p.agent_id == agent_id)
        return f"unknown persona {name!r}; personas of agent {agent_id}: {known or 'none'}"
    if persona.agent_id != agent_id:
        return f"persona {name!r} belongs to agent {persona.agent_id}, not {agent_id}"
    refused = sorted(kinds_of(persona.overrides()) - set(allowed))
    if refused:
        shown = ", ".join(sorted(allowed)) or "none"
        return (
            f"persona {name!r} overrides {', '.join(refused)}, which the campaign does not "
            f"allow (allowed_overrides: {shown}); the provider fails a call that overrides a "
            "field the agent does not enable"
        )
    return None


def pick_persona(*names: str | None) -> str | None:
    """The first persona named, in precedence order (call, contact, campaign)."""
    return next((n for n in names if n), None)


def check_placeholders(
    personas: Mapping[str, Persona], declared: Mapping[str, Collection[str]]
) -> list[tuple[str, str]]:
    """(field, reason) for each placeholder a persona uses that its agent never receives.

    `declared` maps agent ids to the variable names every call of that agent carries; agents
    absent from it are not checked (their variables are not declared in our configuration).
    """
    problems: list[tuple[str, str]] = []
    for name, persona in personas.items():
        names = declared.get(persona.agent_id)
        if names is None:
            continue
        for field in ("prompt", "first_message"):
            text = getattr(persona, field) or ""
            unknown = sorted(
                p
                for p in set(_PLACEHOLDER.findall(text))
                if p not in names and not p.startswith("system__")
            )
            if unknown:
                problems.append(
                    (
                        f"personas.{name}.{field}",
                        f"uses {{{{{unknown[0]}}}}}, which agent {persona.agent_id} does not "
                        "declare (the conversation would fail without it)",
                    )
                )
    return problems
