"""One contact row, validated the same way whatever brought it (CSV, HTTP, Redis job).

The shape is `schema.ContactIn`; the rules that depend on the campaign live in `RowRules`: the
agent's declared variables, the personas of that agent, the overrides the campaign allows,
which variables get a value elsewhere (campaign defaults, context carried between calls), and
whether `secret__` values can be stored (a key is configured). Every problem of a row is reported
at once, each naming its field.

A row is applied to the stored contact as a patch (`upsert.py`): it changes the fields it gives
and keeps the others — omitting a field never erases it. Its variables merge by name: a value
sets one, an empty value (`null`, `""`, a blank CSV cell) removes it. Whether the contact then
holds every variable the agent requires (and, when new, a phone number) is known only against
the stored contact, so that is checked when the row is applied: `ContactRow.needs`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from orchestrator.domain.campaign_policy import CampaignPolicy
from orchestrator.domain.overrides import clean_overrides
from orchestrator.domain.persona import Persona, persona_problem
from orchestrator.domain.variables import (
    AgentConfig,
    Primitive,
    clean_variables,
    is_secret,
    missing_required,
)
from orchestrator.errors import InvalidPhoneNumber, ValidationFailed
from orchestrator.intake.e164 import fast_e164
from orchestrator.intake.schema import ContactIn, problems_of
from orchestrator.settings import Settings

#: CSV columns with a meaning of their own; every other column is a dynamic variable.
RESERVED_COLUMNS = ("external_id", "phone_number", "timezone", "persona")
REQUIRED_COLUMNS = ("external_id", "phone_number")

NO_SECRET_KEYS = "secret__ variables need ORCH_SECRET_KEYS to be stored encrypted"  # noqa: S105

#: The contact's own fields a row may set, besides its variables.
CONTACT_FIELDS = frozenset({"phone_number", "timezone", "persona", "overrides"})


class ContactRow(NamedTuple):
    """A validated contact, ready to be upserted (secret values still in clear).

    A named tuple: large imports build and pickle (between processes) a great many of them.
    The defaults are shared, so a row's dicts are never mutated.
    """

    external_id: str
    #: E.164; None when the row does not give one (a known contact keeps its number).
    phone_number: str | None
    timezone: str | None = None
    persona: str | None = None
    variables: dict[str, Primitive] = {}
    overrides: dict[str, Any] = {}
    #: `json.dumps(variables)` when a validation worker serialized them already (so the
    #: importing process, the busier one, need not); None otherwise.
    variables_json: str | None = None
    #: The fields of `CONTACT_FIELDS` the row sets; a known contact keeps the others.
    given: frozenset[str] = CONTACT_FIELDS
    #: Variables the row speaks for besides those it has a value for: each is removed (it was
    #: given empty). A known contact keeps every variable the row does not name.
    removes: frozenset[str] = frozenset()
    #: Declared variables without a default that the row has no value for: a known contact
    #: must hold them already (a new one cannot).
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class RowRules:
    """What a row is checked against: one campaign's agent, personas and policy."""

    agent_id: str
    agent: AgentConfig
    personas: Mapping[str, Persona] = field(default_factory=dict)
    allowed_overrides: frozenset[str] = frozenset()
    encode_objects: bool = False
    #: Variables that get a value elsewhere, so the row need not carry them.
    provided: frozenset[str] = frozenset()
    default_region: str | None = None
    secrets_enabled: bool = True

    @classmethod
    def for_campaign(cls, settings: Settings, agent_id: str, policy: CampaignPolicy) -> RowRules:
        """The rules of a campaign of `agent_id` under `policy`."""
        return cls(
            agent_id=agent_id,
            agent=settings.agent(agent_id),
            personas=settings.personas,
            allowed_overrides=frozenset(policy.allowed_overrides),
            encode_objects=policy.encode_objects,
            provided=frozenset(policy.default_variables)
            | frozenset(settings.context.variable_names()),
            default_region=settings.default_region,
            secrets_enabled=bool(settings.secret_keys),
        )

    def persona_problem(self, name: str | None) -> str | None:
        """Why this campaign cannot use persona `name`, or None."""
        return persona_problem(name, self.personas, self.agent_id, self.allowed_overrides)


@lru_cache(maxsize=1024)
def zone_problem(value: str) -> str | None:
    """Why `value` is not an IANA zone, or None (cached: files repeat a few zones)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown IANA time zone {value[:60]!r}"
    return None


def check_identity(
    external_id: str,
    phone: str | None,
    timezone: str | None,
    default_region: str | None,
    problems: list[tuple[str, str]],
) -> str | None:
    """Check the id, number and zone of a row; returns the number in E.164 ('' if invalid,
    None when the row gives none)."""
    if not external_id:
        problems.append(("external_id", "required"))
    elif len(external_id) > 200:
        problems.append(("external_id", "longer than 200 characters"))
    normalized: str | None = None
    if phone is not None:
        try:
            normalized = fast_e164(phone, default_region)
        except InvalidPhoneNumber as exc:
            normalized = ""
            problems.append(("phone_number", str(exc)))
    if timezone:
        reason = zone_problem(timezone)
        if reason:
            problems.append(("timezone", reason))
    return normalized


def check_secrets(
    names: Collection[str], rules: RowRules, problems: list[tuple[str, str]], prefix: str = ""
) -> None:
    """Refuse `secret__` variables when no key is configured to store them encrypted."""
    if rules.secrets_enabled:
        return
    for name in names:
        if is_secret(name):
            problems.append((f"{prefix}{name}", NO_SECRET_KEYS))


def validate_row(raw: Mapping[str, Any], rules: RowRules) -> ContactRow:
    """Validate one JSON row (`schema.ContactIn`) against the campaign's rules.

    The row is a patch of the stored contact: what it omits is kept (`ContactRow.given`,
    `removes`); whether the result holds the required variables is checked when it is applied.

    Raises:
        ValidationFailed: every problem of the row, each naming its field.
    """
    try:
        given = ContactIn.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(problems_of(exc)) from None
    problems: list[tuple[str, str]] = []
    phone = check_identity(
        given.external_id, given.phone_number, given.timezone, rules.default_region, problems
    )
    reason = rules.persona_problem(given.persona)
    if reason:
        problems.append(("persona", reason))
    variables: dict[str, Primitive] = {}
    try:
        variables = clean_variables(
            given.variables,
            rules.agent,
            encode_objects=rules.encode_objects,
            prefix="variables",
            require=False,
        )
    except ValidationFailed as exc:
        problems.extend(exc.problems)
    check_secrets(variables, rules, problems, "variables.")
    overrides: dict[str, Any] = {}
    try:
        overrides = clean_overrides(given.overrides, rules.allowed_overrides)
    except ValidationFailed as exc:
        problems.extend(exc.problems)
    if problems:
        raise ValidationFailed(problems)
    fields = given.model_fields_set & CONTACT_FIELDS
    if phone is None:
        fields.discard("phone_number")  # null: keep the stored number
    return ContactRow(
        external_id=given.external_id,
        phone_number=phone,
        timezone=given.timezone,
        persona=given.persona,
        variables=variables,
        overrides=overrides,
        given=frozenset(fields),
        removes=frozenset(given.variables) - variables.keys(),
        needs=tuple(missing_required(variables, rules.agent, rules.provided)),
    )
