"""The sandbox's knobs: one validated settings object, every field also read from `SANDBOX_<NAME>`.

Durations are *simulated* seconds (what the conversation record reports); the wall time the
sandbox actually waits is the simulated time multiplied by `time_scale`, so a test can run a
"90-second" call in a fraction of a second while the records still look like real calls.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator.settings import SANDBOX_API_KEY, SANDBOX_WEBHOOK_SECRET

Outcome = Literal["success", "failure", "voicemail", "no_answer", "busy", "failed"]

#: Every outcome a simulated call can have, in a fixed order (weights are read in this order).
OUTCOMES: tuple[Outcome, ...] = ("success", "failure", "voicemail", "no_answer", "busy", "failed")

#: Outcomes where someone (or a machine) picked up: the provider reports a conversation.
ANSWERED: frozenset[Outcome] = frozenset({"success", "failure", "voicemail"})

#: The provider's hard ceiling on burst concurrency (reference §5).
BURST_CEILING = 300

_RATES = (
    "transfer_rate",
    "opt_out_rate",
    "webhook_drop_rate",
    "webhook_duplicate_rate",
    "http_429_rate",
    "http_5xx_rate",
    "timeout_after_place_rate",
)


class SandboxConfig(BaseSettings):
    """Everything the local provider simulator can be told; see the module docstring for time."""

    model_config = SettingsConfigDict(env_prefix="SANDBOX_", extra="ignore")

    # where it listens and who may call it
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    api_key: str = SANDBOX_API_KEY

    # where post-call webhooks go (None: they are counted as not sent)
    webhook_url: str | None = None
    webhook_secret: str = SANDBOX_WEBHOOK_SECRET

    # Twilio, for calls placed with the caller's own Twilio client and register-call TwiML
    twilio_account_sid: str = "AC" + "0" * 32
    twilio_auth_token: str = "sandbox-twilio-token"  # noqa: S105  (well-known, dev only)

    # inbound calls: where the personalization webhook is (POST /sandbox/inbound rings it)
    personalization_url: str | None = None
    personalization_headers: dict[str, str] = Field(default_factory=dict)
    personalization_timeout_secs: float = Field(default=10.0, gt=0)

    # concurrency and burst pricing
    concurrency: int = Field(default=10, ge=1)
    bursting: bool = False
    #: The agent's `call_limits` (reference §5), checked per agent id; -1 = none.
    agent_concurrency_limit: int = Field(default=-1, ge=-1)
    daily_limit: int = Field(default=-1, ge=-1)

    # time and randomness
    time_scale: float = Field(default=1.0, ge=0)
    seed: int | None = None
    jitter: float = Field(default=0.5, ge=0, le=1)

    # outcome weights (relative, need not sum to 1)
    success: float = Field(default=0.45, ge=0)
    failure: float = Field(default=0.15, ge=0)
    voicemail: float = Field(default=0.15, ge=0)
    no_answer: float = Field(default=0.12, ge=0)
    busy: float = Field(default=0.08, ge=0)
    failed: float = Field(default=0.05, ge=0)

    # simulated durations (seconds)
    ring_secs: float = Field(default=8.0, ge=0)
    ring_timeout_secs: float = Field(default=30.0, ge=0)
    talk_secs: float = Field(default=90.0, ge=0)
    voicemail_secs: float = Field(default=20.0, ge=0)
    processing_secs: float = Field(default=1.0, ge=0)

    # money
    credits_per_minute: int = Field(default=400, ge=0)
    usd_per_credit: float | None = Field(default=None, ge=0)
    tier: str = "creator"

    # conversation content
    agent_number: str = "+14155550100"
    transfer_rate: float = 0.05
    opt_out_rate: float = 0.02
    send_audio: bool = True
    audio_bytes: int = Field(default=32 * 1024, ge=256)

    # fault injection
    webhook_drop_rate: float = 0.0
    webhook_duplicate_rate: float = 0.0
    webhook_delay_secs: float = Field(default=0.0, ge=0)
    webhook_retry: bool = False
    webhook_timeout_secs: float = Field(default=10.0, gt=0)
    http_429_rate: float = 0.0
    http_5xx_rate: float = 0.0
    timeout_after_place_rate: float = 0.0
    timeout_after_place_secs: float = Field(default=30.0, ge=0)

    @model_validator(mode="after")
    def _check_rates_and_weights(self) -> SandboxConfig:
        for name in _RATES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if sum(self.weights.values()) <= 0:
            raise ValueError("at least one outcome weight must be positive")
        return self

    @property
    def weights(self) -> dict[Outcome, float]:
        """Outcome → relative weight, in `OUTCOMES` order."""
        return {outcome: float(getattr(self, outcome)) for outcome in OUTCOMES}

    @property
    def live_limit(self) -> int:
        """Calls that may be live at once: the plan limit, or the burst limit when bursting."""
        if not self.bursting:
            return self.concurrency
        # Bursting never lowers a limit already above the provider's ceiling.
        return max(self.concurrency, min(3 * self.concurrency, BURST_CEILING))

    def wall(self, simulated_secs: float) -> float:
        """Wall-clock seconds to wait for `simulated_secs` of call time."""
        return simulated_secs * self.time_scale
