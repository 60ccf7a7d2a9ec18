"""One contact row, validated the same way whatever brought it (CSV, HTTP, Redis job)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestrator.domain.initiation import clean_variables, coerce_text
from orchestrator.domain.phone import InvalidPhoneNumber, normalize_e164
from orchestrator.errors import ValidationFailed
from orchestrator.settings import AgentConfig, Primitive

#: CSV columns with a meaning of their own; every other column is a dynamic variable.
RESERVED_COLUMNS = ("external_id", "phone_number", "timezone", "persona")
REQUIRED_COLUMNS = ("external_id", "phone_number")


@dataclass(frozen=True)
class ContactRow:
    """A validated contact, ready to be upserted."""

    external_id: str
    phone_number: str
    timezone: str | None = None
    persona: str | None = None
    variables: dict[str, Primitive] = field(default_factory=dict)


def _zone(value: str | None) -> str | None:
    if not value:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


def validate_row(
    raw: Mapping[str, Any],
    agent: AgentConfig,
    *,
    default_region: str | None = None,
    variables_from_text: bool = False,
) -> ContactRow:
    """Validate one row; `raw["variables"]` or (for CSV) the non-reserved columns.

    Raises:
        ValidationFailed: every problem of the row, each naming its field.
    """
    problems: list[tuple[str, str]] = []
    external_id = str(raw.get("external_id") or "").strip()
    if not external_id:
        problems.append(("external_id", "required"))
    elif len(external_id) > 200:
        problems.append(("external_id", "longer than 200 characters"))
    phone = ""
    try:
        phone = normalize_e164(str(raw.get("phone_number") or ""), default_region)
    except InvalidPhoneNumber as exc:
        problems.append(("phone_number", str(exc)))
    timezone: str | None = None
    try:
        timezone = _zone(str(raw.get("timezone") or "").strip() or None)
    except ValueError as exc:
        problems.append(("timezone", str(exc)))
    persona = str(raw.get("persona") or "").strip() or None

    if variables_from_text:
        values: dict[str, Any] = {}
        for name, text in raw.items():
            if name in RESERVED_COLUMNS or name is None or text is None or text == "":
                continue
            try:
                values[name] = coerce_text(str(text), agent.variables.get(name))
            except ValueError as exc:
                problems.append((name, str(exc)))
    else:
        given = raw.get("variables") or {}
        if not isinstance(given, Mapping):
            problems.append(("variables", "must be an object of name → value"))
            given = {}
        values = dict(given)
    variables: dict[str, Primitive] = {}
    try:
        variables = clean_variables(
            values, agent, prefix="variables" if not variables_from_text else "column"
        )
    except ValidationFailed as exc:
        problems.extend((name.removeprefix("column."), reason) for name, reason in exc.problems)
    if problems:
        raise ValidationFailed(problems)
    return ContactRow(
        external_id=external_id,
        phone_number=phone,
        timezone=timezone,
        persona=persona,
        variables=variables,
    )
