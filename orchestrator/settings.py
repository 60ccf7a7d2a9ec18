"""Settings: one validated object, built once per entry point and passed down.

Sources, highest priority first: keyword arguments, environment variables (and a `.env` file),
then `config/orchestrator.toml` (or the file named by `ORCH_CONFIG`). Field names in the TOML file
are the attribute names below; environment variables are `ORCH_<NAME>` plus the conventional
aliases a platform sets (`DATABASE_URL`, `REDIS_URL`, `ELEVENLABS_API_KEY`, ...).

With no provider key set, the provider is the local sandbox (`orchestrator sandbox`).
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from orchestrator.domain.campaign_policy import RetryConfig

VariableType = Literal["string", "number", "integer", "boolean"]
Primitive = str | int | float | bool

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

SANDBOX_API_KEY = "sandbox-api-key"
SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret"  # noqa: S105  (well-known, dev only)


def _env(*names: str) -> AliasChoices:
    """Accept the prefixed name first, then the conventional ones a platform sets."""
    return AliasChoices(*names)


class AgentVariable(BaseModel):
    """One dynamic variable the agent's prompt declares (`{{name}}`)."""

    type: VariableType = "string"
    default: Primitive | None = None
    description: str = ""


class AgentConfig(BaseModel):
    """What we know of an agent configured on the provider's side."""

    variables: dict[str, AgentVariable] = Field(default_factory=dict)
    allowed_overrides: list[str] = Field(default_factory=list)


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

    env: Literal["dev", "test", "prod"] = "dev"
    log_level: str = "INFO"
    log_json: bool = False

    # storage
    database_url: str = Field(
        default="sqlite+aiosqlite:///./orchestrator.db",
        validation_alias=_env("ORCH_DATABASE_URL", "DATABASE_URL", "database_url"),
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=_env("ORCH_REDIS_URL", "REDIS_URL", "REDISCLOUD_URL", "redis_url"),
    )
    queue_name: str = "orchestrator:queue"
    audio_dir: Path = Path("./data/audio")

    # `secret__` variables are encrypted at rest with these keys (Fernet, newest first; older
    # keys still decrypt, so rotation is: prepend a new key, re-encrypt, then drop the old one)
    secret_keys: list[SecretStr] = Field(
        default_factory=list, validation_alias=_env("ORCH_SECRET_KEYS", "secret_keys")
    )
    default_region: str | None = None

    # provider
    provider_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=_env("ORCH_PROVIDER_API_KEY", "ELEVENLABS_API_KEY", "provider_api_key"),
    )
    provider_base_url: str | None = Field(
        default=None,
        validation_alias=_env("ORCH_PROVIDER_BASE_URL", "ELEVENLABS_BASE_URL", "provider_base_url"),
    )
    provider_timeout_secs: float = Field(default=10.0, gt=0)
    webhook_secrets: list[SecretStr] = Field(
        default_factory=list,
        validation_alias=_env(
            "ORCH_WEBHOOK_SECRETS", "ELEVENLABS_WEBHOOK_SECRET", "webhook_secrets"
        ),
    )
    webhook_tolerance_secs: int = 30 * 60
    webhook_future_tolerance_secs: int = 5 * 60
    public_url: str = "http://127.0.0.1:8000"

    # the default agent and number, used when a campaign does not name its own
    agent_id: str = "agent_sandbox"
    phone_number_id: str = "phnum_sandbox"
    phone_number_kind: Literal["twilio", "sip_trunk"] = "twilio"
    agents: dict[str, AgentConfig] = Field(default_factory=dict)

    # concurrency
    plan: str = "creator"
    concurrency_limit: int | None = Field(default=None, ge=1)
    inbound_reserve: int = Field(default=0, ge=0)
    calls_per_second: float = Field(default=10.0, gt=0)
    max_call_secs: float = Field(default=1800.0, gt=0)
    lease_margin_secs: float = Field(default=120.0, gt=0)

    # scheduling and tracking
    retry: RetryConfig = Field(default_factory=RetryConfig)
    dispatch_batch: int = Field(default=200, ge=1)
    poll_after_secs: float = Field(default=120.0, gt=0)
    unknown_grace_secs: float = Field(default=300.0, gt=0)

    # recordings: fetch those whose audio webhook never came, once the call is this old
    fetch_missing_audio: bool = True
    audio_grace_secs: float = Field(default=300.0, ge=0)
    #: Data-collection item whose true value means "do not call me again".
    opt_out_field: str = "opt_out"

    # web
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, validation_alias=_env("ORCH_WEB_PORT", "PORT", "web_port"))
    max_body_bytes: int = 1_000_000

    # sandbox (the local provider); the sandbox command has its own knobs, these say where it is
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = 8765

    @field_validator("webhook_secrets", "secret_keys", mode="before")
    @classmethod
    def _split_secrets(cls, value: Any) -> Any:
        """Accept a comma-separated list so rotation works from one environment variable."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

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
