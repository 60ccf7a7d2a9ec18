"""mkdocs hook: the settings reference, generated from `orchestrator.settings.Settings` at build.

A page holding the marker `<!-- settings-reference -->` gets, in its place, one table of the
top-level settings and one per nested table (`[retry]`, `[legal]`, `[context]`, `[agents.<id>]`,
`[personas.<name>]`): each setting's name, environment variable(s), type, default and description,
read from the model itself, so the page cannot drift from the code. The marker
`<!-- sandbox-reference -->` gets the sandbox provider's knobs (`SANDBOX_<NAME>`) the same way.

The build fails (mkdocs aborts on an exception in a hook) when a setting has no description: add
`Field(description=...)` beside it. Models defined outside `settings.py` whose fields carry no
description yet are described in `FALLBACK` below; an entry naming a field that no longer exists
fails the build too, so that list cannot rot either.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import NoDecode

SETTINGS_MARKER = "<!-- settings-reference -->"
SANDBOX_MARKER = "<!-- sandbox-reference -->"

#: Where the sandbox's settings live (the dev kit's home first, then the older one).
SANDBOX_MODULES = ("orchestrator.dev.sandbox.config",)

#: Descriptions of nested fields whose models (outside settings.py) have none of their own yet.
#: A `Field(description=...)` on the model wins over an entry here.
FALLBACK: dict[tuple[str, str], str] = {
    ("AgentConfig", "variables"): "The dynamic variables the agent's prompt uses (`{{name}}`), "
    "by name: `[agents.<id>.variables.<name>]`. Every declared variable is sent on every call.",
    ("AgentConfig", "allowed_overrides"): "Override kinds the agent enables (its security "
    "settings); used to check the persona answering unknown inbound callers.",
    ("AgentVariable", "type"): "The value's type; contact values and defaults are checked "
    "against it (CSV cells are read as it says: `true/false/yes/no/1/0` for booleans).",
    ("AgentVariable", "default"): "Sent when a contact has no value; without one, a contact "
    "lacking the variable is refused at import.",
    ("AgentVariable", "description"): "A note for people; never sent.",
    ("RetryConfig", "max_attempts"): "Most attempts per contact in a campaign, the first included.",
    ("RetryConfig", "delay_secs"): "Seconds before the next attempt, per outcome: `no_answer`, "
    "`busy`, `voicemail`, `failed`, and the analysis results `failure`, `unknown`; an outcome "
    "not listed is not retried. At most a year.",
    ("LegalBounds", "default_start"): "Earliest local time of day any call may start, everywhere.",
    ("LegalBounds", "default_end"): "Latest local time of day any call may start, everywhere.",
    ("LegalBounds", "rules"): "Stricter rules per region, `[[legal.rules]]`; where several match "
    "a number, the strictest of each applies.",
    ("LegalRule", "region"): "A country (`DE`) or a US state / Canadian province (`US-FL`, read "
    "from the number's area code).",
    ("LegalRule", "start"): "Earliest local time of day in the region.",
    ("LegalRule", "end"): "Latest local time of day in the region.",
    ("LegalRule", "max_attempts_per_24h"): "Most dials to one number in any 24 hours.",
    ("Persona", "description"): "A note for people; never sent.",
    ("Persona", "first_message"): "The agent's first words (`agent.first_message`); may use "
    "`{{placeholders}}` the agent declares.",
    ("Persona", "language"): "Language code such as `en` or `pt-br` (`agent.language`).",
    ("Persona", "voice_id"): "The voice (`tts.voice_id`).",
    ("Persona", "llm"): "The model answering (`agent.prompt.llm`).",
    ("Persona", "stability"): "Voice stability (`tts.stability`).",
    ("Persona", "speed"): "Speaking speed (`tts.speed`).",
    ("Persona", "similarity_boost"): "Voice similarity boost (`tts.similarity_boost`).",
}

#: What the key of a table of tables is, by the inner model (`[agents.<agent_id>]`).
KEY_NAMES = {"AgentConfig": "agent_id"}

_WORDS = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "boolean",
    Path: "path",
    SecretStr: "secret",
    dt.datetime: "date-time",
    dt.time: "time of day (`HH:MM`)",
    dt.date: "date",
}


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace the markers with the generated tables."""
    if SETTINGS_MARKER in markdown:
        markdown = markdown.replace(SETTINGS_MARKER, settings_reference())
    if SANDBOX_MARKER in markdown:
        markdown = markdown.replace(SANDBOX_MARKER, sandbox_reference())
    return markdown


def settings_reference() -> str:
    """Every setting of `Settings`, top level first, then each nested table."""
    from orchestrator.settings import Settings

    used: set[tuple[str, str]] = set()
    missing: list[str] = []
    sections = [_table(Settings, "", "ORCH_", used, missing, nested_below=True)]
    for title, model, prefix, env_prefix in _nested(Settings):
        sections.append(f"### `{title}`\n\n{_doc(model)}\n\n")
        sections.append(_table(model, prefix, env_prefix, used, missing, nested_below=False))
    stale = sorted(f"{m}.{f}" for m, f in set(FALLBACK) - used)
    problems = []
    if missing:
        problems.append(f"no description for {', '.join(missing)} (add Field(description=...))")
    if stale:
        problems.append(f"FALLBACK names fields that no longer exist: {', '.join(stale)}")
    if problems:
        raise ValueError("settings reference: " + "; ".join(problems))
    return "".join(sections)


def sandbox_reference() -> str:
    """The sandbox provider's knobs (`SANDBOX_<NAME>`); descriptions where the model has them."""
    for name in SANDBOX_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        model = module.SandboxConfig
        rows = []
        for field_name, field in model.model_fields.items():
            rows.append(
                [
                    f"`{field_name}`",
                    f"`SANDBOX_{field_name.upper()}`",
                    _type(field.annotation, field),
                    _default(field),
                    field.description or "",
                ]
            )
        header = ["knob", "environment", "type", "default", "description"]
        if not any(row[-1] for row in rows):  # no descriptions yet: no empty column
            return _markdown_table(header[:-1], [row[:-1] for row in rows])
        return _markdown_table(header, rows)
    raise ValueError(f"sandbox reference: no SandboxConfig in {', '.join(SANDBOX_MODULES)}")


def _nested(
    model: type[BaseModel], prefix: str = "", env_prefix: str = "ORCH_"
) -> list[tuple[str, type[BaseModel], str, str]]:
    """(title, model, name prefix, env prefix) for every nested table, depth first."""
    found: list[tuple[str, type[BaseModel], str, str]] = []
    for name, field in model.model_fields.items():
        inner, key = _model_of(field.annotation)
        if inner is None:
            continue
        # A nested table is read from ORCH_<NAME>__<FIELD>; tables under a key only as JSON.
        title = _title(prefix, name, key)
        env = f"{env_prefix}{name.upper()}__" if env_prefix and not key else ""
        found.append((title, inner, f"{title}.", env))
        found.extend(_nested(inner, f"{title}.", env))
    return found


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model a field holds: directly (`""`), under keys (`"<name>"`) or in a list (`"[]"`)."""
    annotation = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is dict and len(args) == 2:
        inner = _strip(args[1])
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner, f"<{KEY_NAMES.get(inner.__name__, 'name')}>"
    if origin is list and args:
        inner = _strip(args[0])
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner, "[]"
    return None, ""


def _table(
    model: type[BaseModel],
    prefix: str,
    env_prefix: str,
    used: set[tuple[str, str]],
    missing: list[str],
    *,
    nested_below: bool,
) -> str:
    rows = []
    for name, field in model.model_fields.items():
        description = field.description
        if not description and (model.__name__, name) in FALLBACK:
            description = FALLBACK[(model.__name__, name)]
        if (model.__name__, name) in FALLBACK:
            used.add((model.__name__, name))
        if not description:
            missing.append(f"{model.__name__}.{name}")
            description = ""
        inner, key = _model_of(field.annotation)
        if inner is not None and nested_below:
            title = _title(prefix, name, key)
            description += f" See [`{title}`](#{_anchor(title)})."
        rows.append(
            [
                f"`{prefix}{name}`",
                _env(name, field, env_prefix),
                _type(field.annotation, field),
                _default(field),
                description,
            ]
        )
    return _markdown_table(["setting", "environment", "type", "default", "description"], rows)


def _title(prefix: str, name: str, key: str) -> str:
    """`retry`, `agents.<agent_id>`, `legal.rules[]`."""
    if key == "[]":
        return f"{prefix}{name}[]"
    return f"{prefix}{name}" + (f".{key}" if key else "")


def _anchor(title: str) -> str:
    """The id mkdocs' toc extension gives a `### \\`title\\`` heading."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in "-_ ")
    return "-".join(kept.split())


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split("\n\n")[0].split())


def _env(name: str, field: FieldInfo, env_prefix: str) -> str:
    if not env_prefix:
        return "—"
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        names = [c for c in alias.choices if isinstance(c, str) and c.isupper()]
    elif isinstance(alias, str):
        names = [alias]
    else:
        names = [f"{env_prefix}{name.upper()}"]
    shown = ", ".join(f"`{n}`" for n in names)
    annotation = _strip(field.annotation)
    if any(m is NoDecode for m in field.metadata) or _has_nodecode(field.annotation):
        return f"{shown} (comma-separated)"
    if get_origin(annotation) in (dict, list) or _model_of(annotation)[0] is not None:
        return f"{shown} (JSON)"
    return shown


def _has_nodecode(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        return any(m is NoDecode for m in get_args(annotation)[1:])
    return False


def _strip(annotation: Any) -> Any:
    """The type without `Annotated[...]` and without `| None`."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _strip(args[0])
    return annotation


def _type(annotation: Any, field: FieldInfo | None = None) -> str:
    words = _words(annotation)
    bounds = _bounds(field.metadata) if field is not None else ""
    return f"{words}{bounds}"


def _words(annotation: Any) -> str:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(_words(a) for a in args if a is not type(None))
    if origin is Literal:
        return " | ".join(f"`{json.dumps(a)}`" for a in args)
    if _model_of(annotation)[0] is not None and origin in (list, dict):
        return "list of tables" if origin is list else "tables, by name"
    if origin is list:
        word = _words(args[0])
        return f"list of {'text values' if word == 'text' else word + 's'}"
    if origin is dict:
        return f"table of {_words(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    if annotation in _WORDS:
        return _WORDS[annotation]
    return getattr(annotation, "__name__", str(annotation))


def _bounds(metadata: list[Any]) -> str:
    signs = {
        annotated_types.Gt: ("gt", ">"),
        annotated_types.Ge: ("ge", "≥"),
        annotated_types.Lt: ("lt", "<"),
        annotated_types.Le: ("le", "≤"),
    }
    parts = []
    for item in metadata:
        for kind, (attr, sign) in signs.items():
            if isinstance(item, kind):
                parts.append(f"{sign} {getattr(item, attr):g}")
        if isinstance(item, annotated_types.MinLen) and item.min_length:
            parts.append(f"at least {item.min_length} long")
    return f", {', '.join(parts)}" if parts else ""


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "see below"
    if value is None:
        return "unset"
    if value in ([], {}):
        return "none"
    return f"`{_toml(value)}`"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, dt.time):
        return json.dumps(value.strftime("%H:%M"))
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return str(value)


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return " ".join(text.split()).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n\n"
