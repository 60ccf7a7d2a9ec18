"""Settings: one validated object, built once per entry point and passed down.

Sources, highest priority first: keyword arguments, environment variables (and a `.env` file),
then `config/orchestrator.toml` (or the file named by `ORCH_CONFIG`). Field names in the TOML file
are the attribute names below; environment variables are `ORCH_<NAME>` plus the conventional
aliases a platform sets (`DATABASE_URL`, `REDIS_URL`, `ELEVENLABS_API_KEY`, ...).

With no provider key set, the provider is the local sandbox (`orchestrator sandbox`).
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from orchestrator.domain.campaign_policy import RetryConfig
from orchestrator.domain.persona import Persona, check_persona_name, check_placeholders
from orchestrator.domain.variables import AgentConfig, check_name
from orchestrator.domain.windows.rules import LegalBounds

#: Concurrency (calls at once) by plan tier, from the provider's FAQ (reference §5).
PLAN_CONCURRENCY: dict[str, int] = {
    "free": 4,
    "starter": 6,
    "creator": 10,
    "pro": 20,
    "scale": 30,
    "business": 30,
}

#: Secrets that must never be used outside development.
_PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "sandbox-webhook-secret", "secret"}

#: A config file chosen by the caller of `load_settings`, over `ORCH_CONFIG`.
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("orchestrator_config_file", default=None)

SANDBOX_TWILIO_SID = "AC" + "0" * 32
SANDBOX_TWILIO_TOKEN = "sandbox-twilio-token"  # noqa: S105  (well-known, dev only)
SANDBOX_API_KEY = "sandbox-api-key"
SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret"  # noqa: S105  (well-known, dev only)


def _env(*names: str) -> AliasChoices:
    """Accept the prefixed name first, then the conventional ones a platform sets."""
    return AliasChoices(*names)


class ContextSettings(BaseModel):
    """Context carried from a person's last completed call to the next, as dynamic variables.

    Every call of every campaign receives these variables (with `missing` when there was no
    earlier call), so an agent whose prompt uses them never lacks one.
    """

    enabled: bool = Field(
        default=True, description="Carry context; off, no context variable is sent."
    )
    summary_variable: str = Field(
        default="last_call_summary",
        description="The variable carrying the last connected call's summary.",
    )
    date_variable: str = Field(default="last_call_date", description="...its date (`YYYY-MM-DD`).")
    outcome_variable: str = Field(
        default="last_call_outcome",
        description="...its outcome: `success`, `failure`, `unknown` or `voicemail`.",
    )
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Data-collection item id → the dynamic variable that carries its last value.",
    )
    missing: str = Field(
        default="none",
        description="Sent when there is nothing to carry (an absent variable fails a prompt "
        "that uses it); must not be empty.",
    )

    @model_validator(mode="after")
    def _valid_names(self) -> ContextSettings:
        for name in self.variable_names():
            reason = check_name(name)
            if reason:
                raise ValueError(f"context variable {name!r}: {reason}")
        if not self.missing.strip():
            raise ValueError("missing: must not be empty (the provider drops empty values)")
        return self

    def variable_names(self) -> list[str]:
        """The dynamic variables context fills (none when disabled)."""
        if not self.enabled:
            return []
        return [
            self.summary_variable,
            self.date_variable,
            self.outcome_variable,
            *self.fields.values(),
        ]


class Settings(BaseSettings):
    """Every knob of the orchestrator (web, worker, CLI)."""

    model_config = SettingsConfigDict(
        env_prefix="ORCH_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        env_nested_delimiter="__",
    )

    env: Literal["dev", "test", "prod"] = Field(
        default="dev",
        description="`prod` refuses to start without a provider key and a real webhook secret, "
        "and refuses campaigns that would notify a CRM unsigned; `dev` and `test` warn instead.",
    )
    log_level: str = Field(default="INFO", description="Log level: DEBUG, INFO, WARNING, ERROR.")
    log_json: bool = Field(
        default=False,
        description="Logs as JSON, one object per line (secrets and phone numbers masked).",
    )

    # storage
    database_url: str = Field(
        default="sqlite+aiosqlite:///./orchestrator.db",
        validation_alias=_env("ORCH_DATABASE_URL", "DATABASE_URL", "database_url"),
        description="SQLite (one machine) or Postgres. A platform's `postgres://` URL and libpq's "
        "`?sslmode=` are mapped to asyncpg.",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=_env("ORCH_REDIS_URL", "REDIS_URL", "REDISCLOUD_URL", "redis_url"),
        description="Redis: the job queue, concurrency slots, pacing, personalization answers. "
        "`rediss://` turns TLS on; `?ssl_cert_reqs=none` (Heroku Redis), `ssl_ca_certs=`, "
        "`ssl_check_hostname=`, `ssl_certfile=`/`ssl_keyfile=` are read by every connection; an "
        "unknown option is refused.",
    )
    queue_name: str = Field(
        default="orchestrator:queue",
        description="The arq queue name; two deployments on one Redis need different ones.",
    )
    audio_dir: Path = Field(
        default=Path("./data/audio"),
        description="Folder where call recordings are stored; the web process and every worker "
        "must share it.",
    )

    # NoDecode: the environment gives `key1,key2`, split by `_split_secrets`, not JSON.
    secret_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("ORCH_SECRET_KEYS", "secret_keys"),
        description="Fernet keys encrypting `secret__` variables at rest, newest first; older "
        "keys still decrypt. Rotation: prepend a new key, run `orchestrator contacts reseal`, "
        "then drop the old one. Without one, rows carrying a `secret__` value are refused.",
    )
    default_region: str | None = Field(
        default=None,
        description="Region assumed for numbers written without a country code (`US`); unset: "
        "numbers must be E.164 (`+14155550123`).",
    )

    # provider
    provider_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=_env("ORCH_PROVIDER_API_KEY", "ELEVENLABS_API_KEY", "provider_api_key"),
        description="The ElevenLabs API key. Unset: every command talks to the local sandbox.",
    )
    provider_base_url: str | None = Field(
        default=None,
        validation_alias=_env("ORCH_PROVIDER_BASE_URL", "ELEVENLABS_BASE_URL", "provider_base_url"),
        description="The provider's base URL, for regional endpoints "
        "(`https://api.eu.residency.elevenlabs.io`); unset: `https://api.elevenlabs.io` with a "
        "key, the sandbox without.",
    )
    provider_timeout_secs: float = Field(
        default=10.0,
        gt=0,
        description="Seconds before a request to the provider times out; a dial that times out "
        "is reconciled against the provider's list, never sent again blindly.",
    )
    webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env(
            "ORCH_WEBHOOK_SECRETS", "ELEVENLABS_WEBHOOK_SECRET", "webhook_secrets"
        ),
        description="HMAC secret(s) of the provider's post-call webhook; several during "
        "rotation. Empty in dev: the sandbox's well-known secret.",
    )
    webhook_tolerance_secs: int = Field(
        default=30 * 60, description="How old (seconds) a signed webhook's timestamp may be."
    )
    webhook_future_tolerance_secs: int = Field(
        default=5 * 60,
        description="How far ahead (seconds) a signed webhook's timestamp may lie.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The web app's base URL as the provider and Twilio reach it: Twilio "
        "signatures are checked against it, and an `https` URL marks the dashboard's cookie "
        "Secure.",
    )

    # the default agent and number, used when a campaign does not name its own
    agent_id: str = Field(
        default="agent_sandbox",
        description="The agent a campaign calls with unless it names its own.",
    )
    phone_number_id: str = Field(
        default="phnum_sandbox",
        description="The provider's id of the imported phone number campaigns call from by "
        "default.",
    )
    phone_number_kind: Literal["twilio", "sip_trunk"] = Field(
        default="twilio",
        description="Which outbound-call endpoint that number uses.",
    )
    agents: dict[str, AgentConfig] = Field(
        default_factory=dict,
        description="What each agent declares: its dynamic variables (type, default) and the "
        "overrides it enables, `[agents.<agent_id>]` in the TOML file.",
    )

    # Twilio, for campaigns placing calls with our own Twilio client (dial_mode = "twilio")
    twilio_account_sid: str | None = Field(
        default=None,
        validation_alias=_env(
            "ORCH_TWILIO_ACCOUNT_SID", "TWILIO_ACCOUNT_SID", "twilio_account_sid"
        ),
        description='The Twilio account placing calls of campaigns with `dial_mode = "twilio"`'
        " (empty in dev: the sandbox stands in for Twilio).",
    )
    twilio_auth_token: SecretStr | None = Field(
        default=None,
        validation_alias=_env("ORCH_TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN", "twilio_auth_token"),
        description="That account's auth token; also checks `X-Twilio-Signature` on status "
        "callbacks.",
    )
    twilio_base_url: str | None = Field(
        default=None,
        description="Where the twilio SDK's requests go (the sandbox in dev; unset: Twilio "
        "itself).",
    )

    # concurrency
    plan: str = Field(
        default="creator",
        description="The provider plan: `free`, `starter`, `creator`, `pro`, `scale`, "
        "`business`. Sets the concurrency limit (4, 6, 10, 20, 30, 30) and the prices read from "
        "`pricing_file`.",
    )
    pricing_file: Path = Field(
        default=Path("config/pricing.toml"),
        description="Dollar prices by plan for reports; calls without the provider's `cost_fiat` "
        "are priced from it. A missing file: dollars only where the provider gave them; a "
        "malformed one, or one without the plan, is an error naming it.",
    )
    concurrency_limit: int | None = Field(
        default=None,
        ge=1,
        description="Calls at once the account allows, instead of the plan's (an Enterprise "
        "allowance).",
    )
    inbound_reserve: int = Field(
        default=0,
        ge=0,
        description="Calls kept free for inbound traffic: outbound gets the limit minus this. "
        "Must be smaller than the limit (refused at start otherwise).",
    )
    calls_per_second: float = Field(
        default=10.0,
        gt=0,
        description="Pacing: calls started per second across all workers (a token bucket; "
        "Twilio's default is 1 per account).",
    )
    max_call_secs: float = Field(
        default=1800.0,
        gt=0,
        description="The longest possible call: slot leases last this plus the margin, so a "
        "lost end event never leaks a slot.",
    )
    lease_margin_secs: float = Field(
        default=120.0, gt=0, description="Added to `max_call_secs` for every slot lease."
    )

    # scheduling and tracking
    retry: RetryConfig = Field(
        default_factory=RetryConfig,
        description="The retry policy new campaigns start with: an attempt cap and a delay per "
        "outcome.",
    )
    dispatch_batch: int = Field(
        default=200,
        ge=1,
        description="Most attempts a dispatcher pass moves from the database into Redis, "
        "shared by campaign weight.",
    )
    poll_after_secs: float = Field(
        default=120.0,
        gt=0,
        description="Seconds without news before a live call is asked about at the provider.",
    )
    unknown_grace_secs: float = Field(
        default=300.0,
        gt=0,
        description="Seconds an `unknown` dial (fate not known) is reconciled before it goes "
        "back to `scheduled` when the provider has no conversation for it.",
    )
    stale_queued_secs: float = Field(
        default=60.0,
        gt=0,
        description="A queued attempt whose dial job has not moved for this long is handed back "
        "to the dispatcher (its job was lost, or its worker died holding it).",
    )
    park_after_failures: int = Field(
        default=3,
        ge=1,
        le=100,
        description="A dial (or webhook event) failing the same way this many times in a row, "
        "before any call was placed, is parked with its reason instead of retried forever.",
    )
    park_retry_secs: float = Field(
        default=30.0,
        ge=0,
        description="Delay before a dial that failed that way is tried again (until parked).",
    )
    legal: LegalBounds = Field(
        default_factory=LegalBounds,
        description="Legal calling hours in the contact's local time, for every campaign, and "
        "stricter rules per region.",
    )
    expected_call_secs: float = Field(
        default=120.0,
        gt=0,
        description="Call length assumed by burst `deadline` (does the backlog fit in the "
        "window?) until enough of the campaign's calls have ended to measure it.",
    )
    clock_start: datetime | None = Field(
        default=None,
        description="Pins the calendar calling windows are read on to this instant (no offset: "
        "UTC). For demos and tests; every process of a deployment needs the same three clock "
        "values. Unset: real time.",
    )
    clock_anchor: float | None = Field(
        default=None,
        description="The real Unix time at which the calendar reads `clock_start` (default: "
        "when each process starts).",
    )
    clock_rate: float = Field(default=1.0, gt=0, description="Calendar seconds per real second.")

    # recordings
    fetch_missing_audio: bool = Field(
        default=True,
        description="Download the recording of calls whose audio webhook never came.",
    )
    audio_grace_secs: float = Field(
        default=300.0,
        ge=0,
        description="...once the call ended this many seconds ago.",
    )
    opt_out_field: str = Field(
        default="opt_out",
        description='Data-collection item whose true value means "do not call me again": the '
        "number goes on the do-not-call list.",
    )

    # web
    web_host: str = Field(default="127.0.0.1", description="Address the web app listens on.")
    web_port: int = Field(
        default=8000,
        validation_alias=_env("ORCH_WEB_PORT", "PORT", "web_port"),
        description="Port the web app listens on; the platform's `PORT` is read too.",
    )
    max_body_bytes: int = Field(
        default=1_000_000, description="Largest request body of the API, in bytes (more: 413)."
    )
    max_bulk_rows: int = Field(
        default=1000,
        ge=1,
        description="Rows accepted in one `POST /v1/campaigns/{campaign}/contacts`.",
    )
    idempotency_ttl_secs: float = Field(
        default=24 * 3600.0,
        gt=0,
        description="How long an `Idempotency-Key`'s answer is replayed.",
    )
    session_idle_secs: float = Field(
        default=3600.0,
        gt=0,
        le=366 * 86400,
        description="A dashboard sign-in ends after this long without a request (the open page "
        "refreshes itself, so this counts from when the tab was closed or slept)...",
    )
    session_max_secs: float = Field(
        default=12 * 3600.0,
        gt=0,
        le=366 * 86400,
        description="...and at the latest this long after signing in.",
    )

    # personas (`config/personas.toml`) and the context carried between calls
    personas_file: Path = Field(
        default=Path("config/personas.toml"),
        description="TOML file of personas (`[personas.<name>]`), validated at start-up. The "
        "default file is optional; a file named explicitly must exist.",
    )
    personas: dict[str, Persona] = Field(
        default_factory=dict,
        description="The personas themselves: read from `personas_file` unless given (as JSON "
        "in the environment).",
    )
    context: ContextSettings = Field(
        default_factory=ContextSettings,
        description="Context carried from a person's last call to the next.",
    )

    # inbound personalization webhook (`POST /webhooks/elevenlabs/personalization`)
    personalization_header: str = Field(
        default="X-Personalization-Secret",
        description="The header the provider sends the shared secret in (set in the "
        "provider's webhook settings).",
    )
    # NoDecode: the environment gives `s1,s2`, split by `_split_secrets`, not JSON.
    personalization_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("ORCH_PERSONALIZATION_SECRETS", "personalization_secrets"),
        description="Accepted secrets (several during rotation); the sandbox's well-known one in "
        "dev when empty. With a real provider and none set, every request is refused (401).",
    )
    personalization_budget_secs: float = Field(
        default=0.15,
        gt=0,
        description="How long a Redis miss may spend asking the database before the defaults "
        "are answered.",
    )
    personalization_unknown_persona: str = Field(
        default="unknown_caller",
        description="The persona answering callers we do not know (used when it belongs to the "
        "called agent).",
    )
    personalization_unknown_value: str = Field(
        default="unknown",
        description="Sent for a declared text variable without default when the caller is unknown.",
    )
    personalization_campaign_variable: str = Field(
        default="last_call_campaign",
        description="The dynamic variable naming the campaign of the caller's last call (sent "
        "when the agent declares it).",
    )
    personalization_max_body_bytes: int = Field(
        default=8192,
        ge=256,
        description="Bodies larger than this are refused (413); the provider's request is about "
        "150 bytes.",
    )
    personalization_refresh_secs: float = Field(
        default=0.5,
        gt=0,
        description="How often a worker refreshes the precomputed answers of changed contacts, "
        "contexts and campaigns.",
    )

    # sandbox (the local provider); the sandbox command has its own knobs, these say where it is
    sandbox_host: str = Field(
        default="127.0.0.1",
        description="Where the orchestrator finds the sandbox provider (used with no key).",
    )
    sandbox_port: int = Field(default=8765, description="The sandbox provider's port.")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        """Read the URL as every connection will (TLS options included): refuse it here if not."""
        from orchestrator.redis_url import check

        return check(value)

    @field_validator("clock_start")
    @classmethod
    def _aware_start(cls, value: datetime | None) -> datetime | None:
        """A clock start without an offset is read as UTC."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("webhook_secrets", "secret_keys", "personalization_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: Any) -> Any:
        """Accept a comma-separated list so rotation works from one environment variable."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="before")
    @classmethod
    def _read_personas(cls, data: Any) -> Any:
        """Load `personas_file` into `personas`, so every entry point validates it at start-up.

        The default file is optional; a file named explicitly must exist.
        """
        if not isinstance(data, dict) or "personas" in data:
            return data
        named = data.get("personas_file") or os.environ.get("ORCH_PERSONAS_FILE")
        path = Path(named) if named else Path("config/personas.toml")
        if not path.is_file():
            if named:
                raise ValueError(f"personas_file: no such file {str(path)!r}")
            return data
        try:
            with path.open("rb") as fh:
                loaded = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"personas_file {str(path)!r}: {exc}") from None
        return {**data, "personas": loaded.get("personas", {})}

    @field_validator("personas")
    @classmethod
    def _persona_names(cls, value: dict[str, Persona]) -> dict[str, Persona]:
        for name in value:
            reason = check_persona_name(name)
            if reason:
                raise ValueError(f"persona {name!r}: {reason}")
        return value

    @model_validator(mode="after")
    def _personas_fit_their_agents(self) -> Settings:
        declared = {
            agent_id: {*agent.variables, *self.context.variable_names()}
            for agent_id, agent in self.agents.items()
            if agent.variables
        }
        problems = check_placeholders(self.personas, declared)
        if problems:
            raise ValueError("; ".join(f"{field}: {reason}" for field, reason in problems))
        return self

    @model_validator(mode="after")
    def _reserve_leaves_outbound_calls(self) -> Settings:
        """A reserve as large as the limit leaves no call for outbound: refuse it, rather than
        quietly dialing one call at a time."""
        limit = self.concurrency_limit or PLAN_CONCURRENCY.get(self.plan.lower(), 10)
        if self.inbound_reserve >= limit:
            source = "concurrency_limit" if self.concurrency_limit else f"plan {self.plan!r}"
            raise ValueError(
                f"inbound_reserve ({self.inbound_reserve}) must be smaller than the concurrency "
                f"limit ({limit}) of {source}: outbound calls get the limit minus the reserve, "
                "and that would leave none"
            )
        return self

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.env == "prod":
            if not self.uses_real_provider:
                raise ValueError("ORCH_ENV=prod needs ELEVENLABS_API_KEY (the sandbox is for dev)")
            for secret in self.webhook_secrets or [SecretStr("")]:
                if secret.get_secret_value().lower() in _PLACEHOLDER_SECRETS:
                    raise ValueError("ORCH_ENV=prod refuses an empty or placeholder webhook secret")
        return self

    @property
    def uses_real_provider(self) -> bool:
        """True when a provider key is configured; otherwise every call goes to the sandbox."""
        return self.provider_api_key is not None and bool(self.provider_api_key.get_secret_value())

    @property
    def effective_base_url(self) -> str:
        """The provider's base URL, or the sandbox's when no key is set."""
        if self.provider_base_url:
            return self.provider_base_url.rstrip("/")
        if self.uses_real_provider:
            return "https://api.elevenlabs.io"
        return f"http://{self.sandbox_host}:{self.sandbox_port}"

    @property
    def effective_api_key(self) -> str:
        """The key sent as `xi-api-key`."""
        if self.provider_api_key is not None and self.provider_api_key.get_secret_value():
            return self.provider_api_key.get_secret_value()
        return SANDBOX_API_KEY

    @property
    def effective_webhook_secrets(self) -> list[str]:
        """Secrets accepted on signed webhooks; the sandbox's well-known one in dev."""
        secrets = [s.get_secret_value() for s in self.webhook_secrets if s.get_secret_value()]
        if not secrets and not self.uses_real_provider:
            return [SANDBOX_WEBHOOK_SECRET]
        return secrets

    @property
    def effective_twilio(self) -> tuple[str, str, str | None] | None:
        """(account SID, auth token, base URL) for our own Twilio client; the sandbox's in dev."""
        if self.twilio_account_sid and self.twilio_auth_token:
            return (
                self.twilio_account_sid,
                self.twilio_auth_token.get_secret_value(),
                self.twilio_base_url,
            )
        if self.uses_real_provider:
            return None
        return (SANDBOX_TWILIO_SID, SANDBOX_TWILIO_TOKEN, self.effective_base_url)

    @property
    def account_limit(self) -> int:
        """Calls at once for outbound: the plan's limit minus the inbound reserve (at least 1)."""
        base = self.concurrency_limit or PLAN_CONCURRENCY.get(self.plan.lower(), 10)
        return max(1, base - self.inbound_reserve)

    def agent(self, agent_id: str) -> AgentConfig:
        """The configuration of one agent (empty when not declared)."""
        return self.agents.get(agent_id, AgentConfig())

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment over the TOML file; the file is optional."""
        toml_path = _CONFIG_FILE.get() or Path(
            os.environ.get("ORCH_CONFIG", "config/orchestrator.toml")
        )
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        if toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings once for an entry point; keyword arguments win over every source.

    Args:
        config_file: a TOML file to read instead of `ORCH_CONFIG` / `config/orchestrator.toml`.
        **overrides: field values that win over the environment and the file.
    """
    token = _CONFIG_FILE.set(config_file)
    try:
        return Settings(**overrides)
    finally:
        _CONFIG_FILE.reset(token)
