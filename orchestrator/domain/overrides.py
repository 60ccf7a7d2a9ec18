"""`conversation_config_override`: which fields may be overridden, and checking that they are.

The provider fails a call that overrides a field the agent's security settings do not enable, so
an override is accepted only when (1) it is one of the fields below and (2) its kind is in the
campaign's `allowed_overrides`. Overrides are written in the provider's own nested shape:

    {"agent": {"prompt": {"prompt": "...", "llm": "..."}, "first_message": "...",
               "language": "en"},
     "tts": {"voice_id": "...", "stability": 0.5, "speed": 1.0, "similarity_boost": 0.8}}

or with dotted keys, at any level, which are expanded to that shape before anything is checked
(`{"agent.first_message": "Hi"}` is `{"agent": {"first_message": "Hi"}}`; both forms may be
mixed). A field given twice — once dotted and once nested — is refused naming it, never merged by
a guess. What is kept is always the nested shape. Empty values (`""`, `null`) are omitted, as the
provider wants absent fields rather than blanks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import ValidationFailed

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")


@dataclass(frozen=True)
class OverrideField:
    """One overridable leaf: its path in the provider's shape and the kind that enables it."""

    path: tuple[str, ...]
    kind: str
    number_range: tuple[float, float] | None = None  # None: the value is text

    @property
    def dotted(self) -> str:
        """`agent.prompt.prompt`."""
        return ".".join(self.path)


#: Every field this system may override, by path; `kind` is what `allowed_overrides` names.
FIELDS: tuple[OverrideField, ...] = (
    OverrideField(("agent", "prompt", "prompt"), "prompt"),
    OverrideField(("agent", "prompt", "llm"), "llm"),
    OverrideField(("agent", "first_message"), "first_message"),
    OverrideField(("agent", "language"), "language"),
    OverrideField(("tts", "voice_id"), "voice"),
    OverrideField(("tts", "stability"), "tts", (0.0, 1.0)),
    OverrideField(("tts", "speed"), "tts", (0.7, 1.2)),
    OverrideField(("tts", "similarity_boost"), "tts", (0.0, 1.0)),
)
BY_PATH: dict[tuple[str, ...], OverrideField] = {f.path: f for f in FIELDS}
_BRANCHES = {f.path[:i] for f in FIELDS for i in range(1, len(f.path))}


def _expand(
    value: Mapping[Any, Any], path: tuple[str, ...], problems: list[tuple[str, str]], prefix: str
) -> dict[str, Any]:
    """`value` with every dotted key split into nested objects (`a.b: x` → `a: {b: x}`).

    A field reached by two keys (`agent.language` beside `agent: {language}`), or a key holding a
    plain value where another key needs an object below it, is a problem naming that field.
    """
    expanded: dict[str, Any] = {}
    for key, child in value.items():
        parts = tuple(str(key).split("."))
        here = (*path, *parts)
        if "" in parts:
            problems.append((_name(prefix, here), "a dotted name has an empty part"))
            continue
        if isinstance(child, Mapping):
            child = _expand(child, here, problems, prefix)
        _place(expanded, parts, child, path, problems, prefix)
    return expanded


def _place(
    target: dict[str, Any],
    parts: tuple[str, ...],
    value: Any,
    path: tuple[str, ...],
    problems: list[tuple[str, str]],
    prefix: str,
) -> None:
    """Put `value` at `parts` below `target`, merging objects; anything else given twice is
    a conflict."""
    node = target
    for depth, key in enumerate(parts):
        here = (*path, *parts[: depth + 1])
        last = depth == len(parts) - 1
        if key not in node:
            if last:
                node[key] = value
                return
            node = node.setdefault(key, {})
            continue
        present = node[key]
        if last and isinstance(present, dict) and isinstance(value, dict):
            for sub, child in value.items():
                _place(present, (sub,), child, here, problems, prefix)
            return
        if not last and isinstance(present, dict):
            node = present
            continue
        problems.append(
            (
                _name(prefix, here),
                "given twice (as a dotted key and inside a nested object); write it once",
            )
        )
        return


def _leaves(
    value: Any, path: tuple[str, ...], problems: list[tuple[str, str]], prefix: str
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Leaves of a nested override, reporting keys that lead nowhere overridable."""
    for key, child in value.items():
        here = (*path, str(key))
        if here in BY_PATH:
            yield here, child
        elif here in _BRANCHES:
            if isinstance(child, Mapping):
                yield from _leaves(child, here, problems, prefix)
            elif child not in (None, {}):
                problems.append((_name(prefix, here), "must be an object"))
        else:
            problems.append(
                (
                    _name(prefix, here),
                    "not an overridable field; overridable: " + ", ".join(f.dotted for f in FIELDS),
                )
            )


def _name(prefix: str, path: tuple[str, ...]) -> str:
    return ".".join((prefix, *path)) if prefix else ".".join(path)


def _check_leaf(spec: OverrideField, value: Any) -> Any:
    """The value to keep, or ValueError naming what is wrong."""
    if spec.number_range is None:
        if not isinstance(value, str):
            raise ValueError("must be text")
        text = value.strip()
        if spec.kind == "language" and not _LANGUAGE.fullmatch(text):
            raise ValueError(f"expected a language code such as 'en' or 'pt-br', got {value!r}")
        return text
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("must be a number")
    low, high = spec.number_range
    if not low <= value <= high:
        raise ValueError(f"must be between {low} and {high}")
    return value


def clean_overrides(
    raw: Any, allowed: Collection[str], *, prefix: str = "overrides"
) -> dict[str, Any]:
    """Validate an override object against the overridable fields and `allowed` kinds.

    Returns:
        The nested override with empty values removed (`{}` when nothing is left).

    Raises:
        ValidationFailed: every problem, each with its path and reason.
    """
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValidationFailed(
            [(prefix, "must be an object shaped like conversation_config_override")]
        )
    problems: list[tuple[str, str]] = []
    expanded = _expand(raw, (), problems, prefix)
    if problems:
        raise ValidationFailed(problems)
    cleaned: dict[str, Any] = {}
    for path, value in _leaves(expanded, (), problems, prefix):
        spec = BY_PATH[path]
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            kept = _check_leaf(spec, value)
        except ValueError as exc:
            problems.append((_name(prefix, path), str(exc)))
            continue
        if spec.kind not in allowed:
            problems.append((_name(prefix, path), not_allowed(spec.kind, allowed)))
            continue
        _put(cleaned, path, kept)
    if problems:
        raise ValidationFailed(problems)
    return cleaned


def not_allowed(kind: str, allowed: Collection[str]) -> str:
    """The reason an override of `kind` is refused."""
    shown = ", ".join(sorted(allowed)) or "none"
    return (
        f"the campaign does not allow overriding {kind} (allowed_overrides: {shown}); "
        "the provider fails a call that overrides a field the agent does not enable"
    )


def kinds_of(overrides: Mapping[str, Any]) -> set[str]:
    """The override kinds a (cleaned) nested override uses."""
    return {BY_PATH[path].kind for path, _ in flatten(overrides) if path in BY_PATH}


def flatten(overrides: Mapping[str, Any]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, value) for every leaf of a nested override."""
    for key, value in overrides.items():
        if isinstance(value, Mapping):
            for sub, leaf in flatten(value):
                yield (key, *sub), leaf
        else:
            yield (key,), value


def merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge nested overrides; later layers win leaf by leaf."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for path, value in flatten(layer):
            _put(merged, path, value)
    return merged


def _put(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = target
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
