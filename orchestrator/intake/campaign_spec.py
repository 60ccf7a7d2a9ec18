"""A campaign as the CRM (HTTP API) or an operator (CLI) describes it, and its checks.

The fields are the campaign's own (agent, phone number, weight) plus its policy
(`domain/campaign_policy.py`: persona, calling hours, retry, burst, allowed overrides...), written
flat. Beyond the policy's own validation, a campaign is checked against the configuration: its
persona must be one of its agent's and override only what the campaign allows; the overrides it
allows must be ones the agent enables (when the agent's configuration lists them); its default
variables must follow the variable rules. Each failure names its field.

What is stored but will not happen as written is accepted with a warning naming the field
(`FieldWarning`): calling hours reaching beyond the legal hours are cut to them at dial time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestrator.domain.campaign_policy import CampaignPolicy, Int, policy_of, window_problem
from orchestrator.domain.persona import persona_problem
from orchestrator.domain.signing import signing_problem
from orchestrator.domain.text import escaped
from orchestrator.domain.variables import clean_variables, is_secret
from orchestrator.errors import ValidationFailed
from orchestrator.intake.schema import ValidText, problems_of
from orchestrator.settings import Settings
from orchestrator.store.models import Campaign

_NAME = re.compile(r"^(?!\d+$)[A-Za-z0-9][A-Za-z0-9 _\-.]{0,199}$")

#: Columns of the campaign itself; every other field is its policy.
OWN_FIELDS = ("agent_id", "phone_number_id", "phone_number_kind", "weight")


class CampaignFields(CampaignPolicy, ValidText):
    """Everything about a campaign that may be set and changed."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str | None = Field(default=None, description="Default: ORCH_AGENT_ID")
    phone_number_id: str | None = Field(default=None, description="Default: ORCH_PHONE_NUMBER_ID")
    phone_number_kind: Literal["twilio", "sip_trunk"] | None = None
    weight: Int = Field(default=1, ge=1, le=1000, description="Share of dialing capacity")


class CampaignCreate(CampaignFields):
    """`POST /v1/campaigns`."""

    name: str = Field(
        description="Unique; letters, digits, space _ - . (not only digits: ids are numbers)"
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(
                "1-200 characters: letters, digits, space _ - . starting with a letter or "
                "digit, and not only digits"
            )
        return value


class CampaignOut(CampaignFields):
    """A campaign as the API shows it."""

    id: int
    name: str
    status: str
    created_at: datetime
    updated_at: datetime


class FieldWarning(BaseModel):
    """A field stored as given that will not act as written, and what happens instead."""

    field: str
    reason: str


class CampaignSaved(CampaignOut):
    """A campaign as created or changed, with warnings about fields that will not act as given."""

    warnings: list[FieldWarning] = Field(
        default_factory=list,
        description="Fields stored as given that will not act as written (e.g. calling hours "
        "beyond the legal hours, which calls never go past)",
    )


def warnings_of(config: Mapping[str, Any], settings: Settings) -> list[FieldWarning]:
    """What of a campaign's stored policy will not act as written."""
    policy = policy_of(dict(config))
    if not policy.enforce_calling_hours:
        return []  # the legal hours are the window: nothing is cut
    hours = policy.calling_hours.daily
    legal = settings.legal.default_hours
    if hours.start >= legal.start and hours.end <= legal.end:
        return []
    cut = hours & legal
    return [
        FieldWarning(
            field="calling_hours",
            reason=f"{hours.describe()} reaches beyond the legal calling hours "
            f"{legal.describe()} (ORCH_LEGAL__DEFAULT_START/END): calls are placed only "
            f"{cut.describe() if cut else 'never'}, in each contact's local time, and stricter "
            "regional rules may narrow that further",
        )
    ]


def saved(campaign: Campaign, settings: Settings) -> CampaignSaved:
    """A campaign just created or changed, with its warnings."""
    return CampaignSaved.model_validate(
        {
            **campaign_out(campaign).model_dump(),
            "warnings": warnings_of(campaign.config or {}, settings),
        }
    )


def campaign_out(campaign: Campaign) -> CampaignOut:
    """A stored campaign as the API and CLI show it.

    Text stored before the text rule existed is shown escaped (`\\u0000`), never refused: a read
    must answer whatever is stored.
    """
    assert campaign.id is not None
    return CampaignOut.model_validate(
        escaped(
            {
                **policy_of(campaign.config).model_dump(),
                "id": campaign.id,
                "name": campaign.name,
                "status": campaign.status,
                "agent_id": campaign.agent_id,
                "phone_number_id": campaign.phone_number_id,
                "phone_number_kind": campaign.phone_number_kind,
                "weight": campaign.weight,
                "created_at": campaign.created_at,
                "updated_at": campaign.updated_at,
            }
        )
    )


def current_fields(campaign: Campaign) -> dict[str, Any]:
    """The changeable fields of a stored campaign (what a merge patch applies to)."""
    return campaign_out(campaign).model_dump(mode="json", include=set(CampaignFields.model_fields))


def fields_of(data: Mapping[str, Any]) -> CampaignFields:
    """Validate campaign fields.

    Raises:
        ValidationFailed: each invalid field with the reason.
    """
    try:
        return CampaignFields.model_validate(dict(data))
    except ValidationError as exc:
        raise ValidationFailed(problems_of(exc)) from None


def merge_patch(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7396): objects merge, `null` removes (back to the default)."""
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_patch(merged[key], value)
        else:
            merged[key] = value
    return merged


def check_campaign(fields: CampaignFields, agent_id: str, settings: Settings) -> None:
    """Check a campaign's fields against the configured agents and personas.

    Raises:
        ValidationFailed: each problem with its field.
    """
    problems: list[tuple[str, str]] = []
    agent = settings.agent(agent_id)
    allowed = fields.allowed_overrides
    if agent.allowed_overrides:
        beyond = sorted(set(allowed) - set(agent.allowed_overrides))
        if beyond:
            problems.append(
                (
                    "allowed_overrides",
                    f"agent {agent_id} does not enable overriding {', '.join(beyond)} "
                    f"(its configuration allows: {', '.join(agent.allowed_overrides)})",
                )
            )
    reason = persona_problem(fields.persona, settings.personas, agent_id, allowed)
    if reason:
        problems.append(("persona", reason))
    # The policy's own check reads the default legal hours; the configured ones may be stricter.
    never = window_problem(fields, settings.legal)
    if never is not None:
        problems.append(never)
    secrets = [name for name in fields.default_variables if is_secret(name)]
    for name in secrets:
        problems.append(
            (
                f"default_variables.{name}",
                "secret__ values belong on contacts or calls, where they are stored encrypted",
            )
        )
    try:
        clean_variables(
            {k: v for k, v in fields.default_variables.items() if k not in secrets},
            agent,
            prefix="default_variables",
            require=False,
        )
    except ValidationFailed as exc:
        problems.extend(exc.problems)
    unsigned = signing_problem(fields.notifications, os.environ)
    if unsigned and settings.env == "prod":
        problems.append(("notifications.secret_env", unsigned))
    if problems:
        raise ValidationFailed(problems)


def signing_warning(config: Mapping[str, Any]) -> str | None:
    """Why the CRM notifications of a campaign with this policy would go unsigned (None: they
    would not); refused in prod by `check_campaign`, to be warned about elsewhere."""
    return signing_problem(policy_of(dict(config)).notifications, os.environ)


def policy_part(fields: CampaignFields) -> dict[str, Any]:
    """The policy stored as the campaign's `config` (its own columns left out)."""
    return CampaignPolicy.model_validate(fields.model_dump(exclude=set(OWN_FIELDS))).model_dump(
        mode="json"
    )


def columns_of(fields: CampaignFields, settings: Settings) -> dict[str, Any]:
    """The campaign's own columns, defaults from the settings."""
    return {
        "agent_id": fields.agent_id or settings.agent_id,
        "phone_number_id": fields.phone_number_id or settings.phone_number_id,
        "phone_number_kind": fields.phone_number_kind or settings.phone_number_kind,
        "weight": fields.weight,
    }


def resolve_create(
    data: Mapping[str, Any], settings: Settings
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(name, columns, config) of a new campaign; the retry policy defaults to the settings'.

    Raises:
        ValidationFailed: each invalid field.
    """
    try:
        given = CampaignCreate.model_validate(dict(data))
    except ValidationError as exc:
        raise ValidationFailed(problems_of(exc)) from None
    fields = CampaignFields.model_validate(given.model_dump(exclude={"name"}, exclude_unset=True))
    if "retry" not in given.model_fields_set:
        fields = fields.model_copy(update={"retry": settings.retry})
    columns = columns_of(fields, settings)
    check_campaign(fields, columns["agent_id"], settings)
    return given.name, columns, policy_part(fields)


def resolve_patch(
    current: Mapping[str, Any], patch: Mapping[str, Any], settings: Settings
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(columns, config) of a campaign whose fields `current` are changed by a merge `patch`.

    Raises:
        ValidationFailed: each invalid field (the name cannot change).
    """
    if "name" in patch:
        raise ValidationFailed([("name", "a campaign keeps its name")])
    fields = fields_of(merge_patch(current, patch))
    columns = columns_of(fields, settings)
    check_campaign(fields, columns["agent_id"], settings)
    return columns, policy_part(fields)
