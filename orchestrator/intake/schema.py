"""The public shape of one contact row, defined once for every way contacts come in.

`ContactIn` is a row of `POST /v1/campaigns/{id}/contacts`; `EnqueueCallJob` (the same plus
`campaign`) is the payload of the Redis job `enqueue_call`; a CSV row is mapped onto the same
fields (every column but the reserved ones is a variable). The shape is checked here; the rules
that depend on the campaign (declared variables, personas, allowed overrides) in `rows.py`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from orchestrator.domain.text import text_problems

#: Version of the row and job contract (bumped only for incompatible changes).
CONTRACT_VERSION = 1


class ValidText(BaseModel):
    """A body whose every string, keys included, is text we can carry (`domain/text.py`).

    Checked before anything else, so a lone surrogate or a NUL is refused naming its field
    (`variables.note`) rather than stored, where it would break every answer and dial built
    from it. Python's JSON parser and a pickled Redis job both let such text through.
    """

    @model_validator(mode="before")
    @classmethod
    def _valid_text(cls, data: Any) -> Any:
        problems = text_problems(data) if isinstance(data, dict) else []
        if problems:
            raise ValidationError.from_exception_data(
                cls.__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("invalid_text", "{reason}", {"reason": reason}),
                        loc=tuple(field.split(".")),
                        input=None,
                    )
                    for field, reason in problems
                ],
            )
        return data


class ContactIn(ValidText):
    """One contact: who to call and what the agent should know.

    For a contact the campaign already has (same `external_id`) the row is a patch: the fields
    it gives change, the others are kept; variables merge by name.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "external_id": "crm-0042",
                    "phone_number": "+14155550123",
                    "timezone": "America/Los_Angeles",
                    "persona": "maya",
                    "variables": {"customer_name": "Ada Lovelace", "balance": 12.5, "vip": True},
                }
            ]
        },
    )

    # Lengths are checked with the row's other rules, so every problem is reported at once.
    external_id: str = Field(
        description="Your CRM's id of the person; unique per campaign; sent as the call's user_id",
        json_schema_extra={"minLength": 1, "maxLength": 200},
    )
    phone_number: str | None = Field(
        default=None,
        description="E.164 (+14155550123), or national with ORCH_DEFAULT_REGION; required for a "
        "new contact, a known one keeps its number when it is left out",
        json_schema_extra={"minLength": 1},
    )
    timezone: str | None = Field(
        default=None,
        description="IANA zone; else derived from the number, else the campaign's (null or empty "
        "removes it; left out, the stored one is kept)",
    )
    persona: str | None = Field(
        default=None,
        description="A persona of the campaign's agent (null or empty removes it; left out, the "
        "stored one is kept)",
    )
    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="Dynamic variables: string, number, integer or boolean values; names are "
        "case-sensitive; `system__` is reserved; `secret__` values are stored encrypted. Merged "
        "into a known contact's by name: a value sets one, null or empty removes it, a variable "
        "left out is kept",
    )
    overrides: dict[str, Any] | None = Field(
        default=None,
        description="conversation_config_override fields the campaign allows (agent.prompt.prompt, "
        "agent.first_message, agent.language, agent.prompt.llm, tts.voice_id, tts.stability, "
        "tts.speed, tts.similarity_boost), nested as the provider writes them "
        '(`{"agent": {"first_message": "Hi"}}`) or with dotted keys '
        '(`{"agent.first_message": "Hi"}`), stored nested; a field given in both forms is '
        "refused; replaces a known contact's when given, null removes them, left out they are "
        "kept",
    )

    @field_validator("external_id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        """CRMs often have numeric ids: accept them as text; surrounding spaces are not part."""
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return value.strip() if isinstance(value, str) else value

    @field_validator("timezone", "persona", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("variables", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class EnqueueCallJob(ContactIn):
    """The payload of the Redis job `enqueue_call`: one contact row plus its campaign."""

    campaign: str | int = Field(description="The campaign's name or numeric id")


class CallValues(ValidText):
    """Values for one call only; they win over the contact's and are not kept on it."""

    model_config = ConfigDict(extra="forbid")

    variables: dict[str, Any] = Field(default_factory=dict)
    persona: str | None = None
    overrides: dict[str, Any] | None = Field(
        default=None,
        description="conversation_config_override fields for this call, nested or with dotted "
        "keys as in a contact row",
    )

    @field_validator("persona", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip() or None
        return value


class CallIn(ContactIn):
    """`POST /v1/calls`: a contact row of a campaign, plus values for this call only."""

    campaign: str | int = Field(description="The campaign's name or numeric id")
    call: CallValues = Field(default_factory=CallValues)


class ContactsIn(BaseModel):
    """`POST /v1/campaigns/{id}/contacts` (its schema for OpenAPI; rows are checked one by one)."""

    contacts: list[ContactIn] = Field(max_length=1000)


def problems_of(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """(field, reason) pairs from a pydantic error, with `prefix` before each path."""
    out: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in error.get("loc", ()))
        field = ".".join(p for p in (prefix, loc) if p) or "(row)"
        out.append((field, str(error.get("msg", "invalid"))))
    return out
