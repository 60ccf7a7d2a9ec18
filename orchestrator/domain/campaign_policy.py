"""A campaign's policy: when to call, how often to retry, how to burst, what to send.

Stored as the campaign's `config` JSON and validated here, so a campaign that could never call
anyone (a window that never opens, an unknown policy, an invalid time zone) is refused when it is
created, with the field and the reason.
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from orchestrator.domain.windows.rules import (
    DAYS_DOC,
    DailyHours,
    Day,
    LegalBounds,
    LegalLimits,
    LocalTime,
    WindowSpec,
    check_days,
    never_opens,
    spec_of,
)

Primitive = str | int | float | bool

#: Override fields the provider lets an agent's security settings enable (reference §1).
OVERRIDABLE = ("prompt", "first_message", "language", "voice", "llm", "tts")

#: Outcome keys retry delays are configured under.
RETRY_KEYS = ("no_answer", "busy", "voicemail", "failed", "failure", "unknown")

#: The dates a campaign may name: beyond them, date arithmetic overflows (a 500, a stuck
#: scheduler) long before a campaign could mean them.
FIRST_DATE = date(2000, 1, 1)
LAST_DATE = date(2199, 12, 31)
#: The longest retry delay: a year.
MAX_DELAY_SECS = 366 * 24 * 3600.0
#: The largest count or amount a policy holds: what JSON carries exactly.
MAX_COUNT = 2**53 - 1


def _not_a_boolean(value: Any) -> Any:
    """Refuse `true`/`false` where a number is expected (pydantic would read them as 1/0)."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "bool_is_not_a_number", "expected a number, not a boolean (true/false)"
        )
    return value


#: An integer or a number that refuses booleans.
Int = Annotated[int, BeforeValidator(_not_a_boolean)]
Float = Annotated[float, BeforeValidator(_not_a_boolean)]


class CallingHours(BaseModel):
    """Days and hours, in the contact's local time, when the campaign may call."""

    model_config = ConfigDict(extra="forbid")

    days: list[Day] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4, 5, 6],
        description=f"Days of the week the campaign calls, in the contact's local time: {DAYS_DOC}."
        " Answered as numbers.",
    )
    start: LocalTime = time(9, 0)
    end: LocalTime = time(20, 0)

    @field_validator("days")
    @classmethod
    def _valid_days(cls, value: list[int]) -> list[int]:
        return check_days(value)

    @model_validator(mode="after")
    def _opens(self) -> CallingHours:
        if self.end <= self.start:
            raise ValueError("end must be after start, or the window never opens")
        return self

    @property
    def daily(self) -> DailyHours:
        """The hours as the window calculator takes them."""
        return DailyHours(self.start, self.end, frozenset(self.days))


class RetryConfig(BaseModel):
    """A delay per outcome and a cap on attempts per contact."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: Int = Field(default=3, ge=1, le=20)
    delay_secs: dict[str, Annotated[Float, Field(le=MAX_DELAY_SECS)]] = Field(
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
    max_burst_calls_per_day: Int | None = Field(default=None, ge=0, le=MAX_COUNT)
    max_extra_credits_per_day: Float | None = Field(default=None, ge=0, le=MAX_COUNT)

    @model_validator(mode="after")
    def _budget_has_a_cap(self) -> BurstPolicy:
        if self.mode == "budget" and (
            self.max_burst_calls_per_day is None and self.max_extra_credits_per_day is None
        ):
            raise ValueError(
                "mode 'budget' needs max_burst_calls_per_day or max_extra_credits_per_day"
            )
        return self


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


class Notifications(BaseModel):
    """Optional outbound webhook to the CRM when a contact's disposition is final."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    #: Name of the environment variable holding the signing secret, a Standard Webhooks
    #: `whsec_...` secret (secrets never sit in config; see `domain/signing.py`).
    secret_env: str | None = None

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        # Never echoes the value: a secret pasted here instead of a name must not be shown.
        if value is not None and (value.startswith("whsec_") or not _ENV_NAME.fullmatch(value)):
            raise ValueError(
                "the name of the environment variable holding the secret (letters, digits, _), "
                "not the secret itself"
            )
        return value

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
    start_date: date | None = Field(default=None, ge=FIRST_DATE, le=LAST_DATE)
    end_date: date | None = Field(default=None, ge=FIRST_DATE, le=LAST_DATE)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    burst: BurstPolicy = Field(default_factory=BurstPolicy)
    max_concurrency: Int | None = Field(default=None, ge=1, le=100_000)
    agent_concurrency_limit: Int | None = Field(default=None, ge=1, le=100_000)
    persona: str | None = None
    allowed_overrides: list[str] = Field(default_factory=list)
    encode_objects: bool = False
    default_variables: dict[str, Primitive] = Field(default_factory=dict)
    notifications: Notifications = Field(default_factory=Notifications)
    #: When false the campaign calls at any hour (the demo profile); legal bounds still apply.
    enforce_calling_hours: bool = True
    #: `native`: the provider places the call (its Twilio or SIP integration). `twilio`: we
    #: place it with our own Twilio client and register-call TwiML, with answering-machine
    #: detection and Twilio's status callbacks (no transfer on this path).
    dial_mode: Literal["native", "twilio"] = "native"
    #: The caller id for `dial_mode = "twilio"` (a number of our Twilio account, E.164).
    twilio_from_number: str | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value[:60]!r}") from None
        return value

    @field_validator("allowed_overrides")
    @classmethod
    def _overridable(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(OVERRIDABLE))
        if unknown:
            raise ValueError(f"cannot override {unknown}; overridable: {list(OVERRIDABLE)}")
        return value

    @model_validator(mode="after")
    def _twilio_needs_a_number(self) -> CampaignPolicy:
        if self.dial_mode == "twilio":
            number = self.twilio_from_number or ""
            if not (number.startswith("+") and number[1:].isdigit() and 8 <= len(number) <= 16):
                raise ValueError("dial_mode 'twilio' needs twilio_from_number in E.164 (+1415...)")
        return self

    @model_validator(mode="after")
    def _dates(self) -> CampaignPolicy:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date, so the campaign could never call")
        return self

    @model_validator(mode="after")
    def _window_opens(self) -> CampaignPolicy:
        problem = window_problem(self, LegalBounds())
        if problem is not None:
            field, reason = problem
            # Raised as a ValidationError so the error's location names the field.
            raise ValidationError.from_exception_data(
                "CampaignPolicy",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "window_never_opens", "{reason}", {"reason": reason}
                        ),
                        loc=(field,),
                        input=self.model_dump(mode="json", include={field}).get(field),
                    )
                ],
            )
        return self

    def window_spec(self, legal_hours: DailyHours | None) -> WindowSpec:
        """The campaign's window under `legal_hours` (None: the law allows no hour)."""
        campaign = self.calling_hours.daily if self.enforce_calling_hours else None
        return spec_of(
            campaign,
            LegalLimits(legal_hours),
            start_date=self.start_date,
            end_date=self.end_date,
        )


def window_problem(policy: CampaignPolicy, legal: LegalBounds) -> tuple[str, str] | None:
    """(field, reason) when `policy`'s calling window can never open under `legal`'s defaults.

    Regional rules can only narrow the window further for some contacts, so they are applied when
    each contact is scheduled, not here.
    """
    spec = policy.window_spec(legal.default_hours)
    if spec.hours is None:
        hours = policy.calling_hours.daily.describe()
        return (
            "calling_hours",
            f"{hours} never meets the legal calling hours {legal.default_hours.describe()}, "
            "so the window never opens",
        )
    if never_opens(spec):
        if policy.start_date is None:
            # Only an end date already past can close every day (a week has a calling day).
            return (
                "end_date",
                f"{policy.end_date} is in the past, so the window never opens",
            )
        return (
            "end_date" if policy.end_date else "start_date",
            f"no day from {policy.start_date} to {policy.end_date} is a calling day "
            f"({spec.describe()}), so the window never opens",
        )
    return None


#: Policies by their stored JSON, with the config each was validated from: validating one
#: (windows checked over the campaign's dates) costs far more than the lookup, and the dialer
#: reads the policy of every call it places.
_POLICIES: dict[bytes, tuple[Any, CampaignPolicy]] = {}
_POLICY_CACHE_SIZE = 256


def policy_of(config: dict[str, Any] | None) -> CampaignPolicy:
    """The validated policy stored in a campaign's `config`.

    The result is shared between callers with the same config: treat it as read-only (derive
    changed policies with `model_copy(update=...)`).
    """
    raw = config or {}
    try:
        key = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not plain JSON (a set, a non-string key): validate it as it is
        return CampaignPolicy.model_validate(raw)
    cached = _POLICIES.get(key)
    # The key alone could match a config that is not JSON-clean (NaN is written as null):
    # a hit must equal the JSON the policy was validated from.
    if cached is not None and cached[0] == raw:
        return cached[1]
    policy = CampaignPolicy.model_validate(raw)
    if len(_POLICIES) >= _POLICY_CACHE_SIZE:
        _POLICIES.clear()
    _POLICIES[key] = (orjson.loads(key), policy)
    return policy
