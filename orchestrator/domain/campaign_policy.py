"""A campaign's policy: when to call, how often to retry, how to burst, what to send.

Stored as the campaign's `config` JSON and validated here, so a campaign that could never call
anyone (a window that never opens, an unknown policy, an invalid time zone) is refused when it is
created, with the field and the reason.
"""

from __future__ import annotations

from datetime import date, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Primitive = str | int | float | bool

#: Override fields the provider lets an agent's security settings enable (reference §1).
OVERRIDABLE = ("prompt", "first_message", "language", "voice", "llm", "tts")

#: Outcome keys retry delays are configured under.
RETRY_KEYS = ("no_answer", "busy", "voicemail", "failed", "failure", "unknown")

_DAY_NAMES = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


class CallingHours(BaseModel):
    """Days and hours, in the contact's local time, when the campaign may call."""

    model_config = ConfigDict(extra="forbid")

    days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6])
    start: time = time(9, 0)
    end: time = time(20, 0)

    @field_validator("days", mode="before")
    @classmethod
    def _day_names(cls, value: Any) -> Any:
        """Accept `["mon", "tue"]` as well as `[0, 1]` (Monday = 0)."""
        if isinstance(value, list):
            out: list[Any] = []
            for item in value:
                if isinstance(item, str) and item[:3].lower() in _DAY_NAMES:
                    out.append(_DAY_NAMES[item[:3].lower()])
                else:
                    out.append(item)
            return out
        return value

    @field_validator("days")
    @classmethod
    def _valid_days(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("at least one day is needed, or the window never opens")
        if any(d < 0 or d > 6 for d in value):
            raise ValueError("days are 0 (Monday) to 6 (Sunday) or mon..sun")
        return sorted(set(value))

    @model_validator(mode="after")
    def _opens(self) -> CallingHours:
        if self.end <= self.start:
            raise ValueError("end must be after start, or the window never opens")
        return self


class RetryConfig(BaseModel):
    """A delay per outcome and a cap on attempts per contact."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=3, ge=1, le=20)
    delay_secs: dict[str, float] = Field(
        default_factory=lambda: {
            "no_answer": 3600.0,
            "busy": 900.0,
            "voicemail": 7200.0,
            "failed": 1800.0,
        }
    )

    @field_validator("delay_secs")
    @classmethod
    def _known_outcomes(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(RETRY_KEYS))
        if unknown:
            raise ValueError(f"unknown outcome(s) {unknown}; known: {list(RETRY_KEYS)}")
        if any(v < 0 for v in value.values()):
            raise ValueError("delays must be zero or positive")
        return value


class BurstPolicy(BaseModel):
    """When the campaign may use burst capacity (above the plan's limit, billed 2×)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["off", "on", "deadline", "budget"] = "off"
    max_burst_calls_per_day: int | None = Field(default=None, ge=0)
    max_extra_credits_per_day: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _budget_has_a_cap(self) -> BurstPolicy:
        if self.mode == "budget" and (
            self.max_burst_calls_per_day is None and self.max_extra_credits_per_day is None
        ):
            raise ValueError(
                "mode 'budget' needs max_burst_calls_per_day or max_extra_credits_per_day"
            )
        return self


class Notifications(BaseModel):
    """Optional outbound webhook to the CRM when a contact's disposition is final."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    #: Name of the environment variable holding the HMAC secret (secrets never sit in config).
    secret_env: str | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value


class CampaignPolicy(BaseModel):
    """Everything a campaign decides beyond its agent and number."""

    model_config = ConfigDict(extra="forbid")

    calling_hours: CallingHours = Field(default_factory=CallingHours)
    #: Zone used for contacts whose own zone is unknown and cannot be derived from the number.
    timezone: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    retry: RetryConfig = Field(default_factory=RetryConfig)
    burst: BurstPolicy = Field(default_factory=BurstPolicy)
    max_concurrency: int | None = Field(default=None, ge=1)
    agent_concurrency_limit: int | None = Field(default=None, ge=1)
    persona: str | None = None
    allowed_overrides: list[str] = Field(default_factory=list)
    encode_objects: bool = False
    default_variables: dict[str, Primitive] = Field(default_factory=dict)
    notifications: Notifications = Field(default_factory=Notifications)
    #: When false the campaign calls at any hour (the demo profile); legal bounds still apply.
    enforce_calling_hours: bool = True

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("allowed_overrides")
    @classmethod
    def _overridable(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(OVERRIDABLE))
        if unknown:
            raise ValueError(f"cannot override {unknown}; overridable: {list(OVERRIDABLE)}")
        return value

    @model_validator(mode="after")
    def _dates(self) -> CampaignPolicy:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date, so the campaign could never call")
        return self


def policy_of(config: dict[str, Any] | None) -> CampaignPolicy:
    """The validated policy stored in a campaign's `config`."""
    return CampaignPolicy.model_validate(config or {})
