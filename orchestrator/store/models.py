"""SQLModel tables: campaigns, contacts, attempts, outcomes, raw webhook events, dead letters,
the do-not-call list.

Times are aware UTC datetimes (`UTCDateTime`). JSON columns hold provider payload fragments and
dynamic variables; `secret__` variable values are stored encrypted (see `domain/initiation.py`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from orchestrator.store.types import UTCDateTime, utcnow


def _ts(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kw)


def _json() -> Any:
    # The column default also covers Core bulk inserts, which skip the model's factory.
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=lambda: {}))


class Campaign(SQLModel, table=True):
    """A named set of contacts called by one agent from one number under one policy.

    `config` holds the validated policy (calling hours, retries, overrides, burst budget, CRM
    notifications...) as a JSON document; see `domain/campaign_policy.py`.
    """

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=200)
    agent_id: str = Field(max_length=200)
    phone_number_id: str = Field(max_length=200)
    phone_number_kind: str = Field(default="twilio", max_length=20)
    status: str = Field(default="active", max_length=20)
    #: Share of dialing capacity relative to other campaigns with due attempts.
    weight: int = Field(default=1, ge=1)
    config: dict[str, Any] = _json()
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Contact(SQLModel, table=True):
    """One person in one campaign, keyed by the CRM's id; carries the campaign disposition."""

    __table_args__ = (
        UniqueConstraint("campaign_id", "external_id", name="uq_contact_campaign_external"),
        # Extended for reports: dispositions and attempts per contact from the index alone.
        Index(
            "ix_contact_campaign_disposition",
            "campaign_id",
            "disposition",
            "disposition_detail",
            "attempts_made",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    external_id: str = Field(max_length=200)
    phone_number: str = Field(index=True, max_length=20)
    timezone: str | None = Field(default=None, max_length=64)
    persona: str | None = Field(default=None, max_length=100)
    variables: dict[str, Any] = _json()
    #: The contact's own `conversation_config_override` (validated against the campaign).
    overrides: dict[str, Any] = _json()
    disposition: str = Field(default="pending", max_length=20)
    disposition_detail: str | None = Field(default=None, max_length=20)
    attempts_made: int = 0
    #: How the last attempt ended (voicemail, no_answer, completed...), for people to read.
    last_outcome: str | None = Field(default=None, max_length=20)
    transferred: bool = False
    last_summary: str | None = None
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Attempt(SQLModel, table=True):
    """One dial of one contact; the unit the state machine moves."""

    __table_args__ = (
        Index("ix_attempt_state_due", "state", "due_at"),
        # Housekeeping: ended attempts whose bookkeeping a crash cut short (retry_planned false).
        Index("ix_attempt_unsettled", "retry_planned", "state"),
        # Extended for reports: attempts by state and by local hour in index order, no sort.
        Index("ix_attempt_campaign_state", "campaign_id", "state", "local_hour"),
        # Reports: calls started and ended per time bucket (slot utilization), by index range.
        Index("ix_attempt_campaign_started", "campaign_id", "dial_started_at", "state"),
        Index("ix_attempt_campaign_ended", "campaign_id", "ended_at", "state"),
        # Reports over a date range across campaigns (calls dialled in the range).
        Index(
            "ix_attempt_started",
            "dial_started_at",
            "state",
            "campaign_id",
            "local_hour",
            "contact_id",
        ),
        Index("ix_attempt_ended", "ended_at", "state", "campaign_id"),
        Index("ix_attempt_phone_state", "phone_number", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    contact_id: int = Field(foreign_key="contact.id", index=True)
    seq: int = 1
    phone_number: str = Field(max_length=20)
    state: str = Field(default="scheduled", max_length=20)
    due_at: datetime = _ts()
    queued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    dial_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    initiated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_news_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    conversation_id: str | None = Field(default=None, unique=True, max_length=100)
    call_sid: str | None = Field(default=None, index=True, max_length=100)
    is_burst: bool = False
    call_successful: str | None = Field(default=None, max_length=20)
    error: str | None = None
    #: Failures of one kind in a row before any call was placed; `park_after_failures` of them
    #: park the attempt (`tracking/parking.py`). `dial_failure_kind` names the kind.
    dial_failures: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    dial_failure_kind: str | None = Field(default=None, max_length=60)
    retry_planned: bool = False
    #: Values for this call only (`POST /v1/calls`): variables, persona, overrides.
    call_data: dict[str, Any] = _json()
    #: Hour of day (0-23) in the contact's local time when the dial started, for reports.
    local_hour: int | None = None
    answered_by: str | None = Field(default=None, max_length=40)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Outcome(SQLModel, table=True):
    """The provider's final word on one attempt's call; only ever gets richer."""

    __table_args__ = (
        # Reports: every total of a campaign from the index alone (rows carry long summaries).
        Index(
            "ix_outcome_report",
            "campaign_id",
            "state",
            "call_successful",
            "is_burst",
            "transferred",
            "opted_out",
            "duration_secs",
            "cost_credits",
            "cost_fiat",
        ),
        # Reports: duration percentiles by walking the index in order.
        Index("ix_outcome_campaign_duration", "campaign_id", "duration_secs", "state"),
        # Reports over a date range: the same totals for the attempts dialled in it.
        Index(
            "ix_outcome_attempt_report",
            "attempt_id",
            "state",
            "call_successful",
            "is_burst",
            "transferred",
            "opted_out",
            "duration_secs",
            "cost_credits",
            "cost_fiat",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    attempt_id: int = Field(foreign_key="attempt.id", unique=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    conversation_id: str | None = Field(default=None, index=True, max_length=100)
    state: str = Field(max_length=20)
    call_successful: str | None = Field(default=None, max_length=20)
    transcript_summary: str | None = None
    termination_reason: str | None = None
    failure_reason: str | None = Field(default=None, max_length=40)
    duration_secs: float | None = None
    cost_credits: float | None = None
    cost_fiat: float | None = None
    is_burst: bool = False
    transferred: bool = False
    opted_out: bool = False
    has_audio: bool = False
    audio_path: str | None = None
    data_collection: dict[str, Any] = _json()
    evaluation: dict[str, Any] = _json()
    sources: dict[str, Any] = _json()
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class WebhookEvent(SQLModel, table=True):
    """A raw, verified webhook delivery, kept before it is processed."""

    __table_args__ = (
        Index("ix_webhook_dedup", "event_type", "conversation_id"),
        # The metrics scrape counts events by status (waiting, unmatched) and the sweep looks
        # for old waiting ones: without it each walked every stored body.
        Index("ix_webhook_status", "status", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(default="elevenlabs", max_length=20)
    event_type: str = Field(max_length=60)
    conversation_id: str | None = Field(default=None, max_length=100)
    #: Twilio's call SID, for status callbacks of calls placed with our own Twilio client.
    call_sid: str | None = Field(default=None, max_length=100)
    event_timestamp: int | None = None
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    #: Large bodies (post_call_audio) are spooled to a file instead of the database.
    body_path: str | None = None
    status: str = Field(default="received", max_length=20)
    error: str | None = None
    #: Failed processing attempts in a row; enough of them park the event (status `parked`).
    failures: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    received_at: datetime = _ts()
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DeadLetter(SQLModel, table=True):
    """A payload we could not accept, kept with the reason so nothing is dropped silently."""

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=40)
    reason: str
    payload: dict[str, Any] = _json()
    created_at: datetime = _ts()


class DoNotCall(SQLModel, table=True):
    """A number nobody may call again, from any campaign."""

    phone_number: str = Field(primary_key=True, max_length=20)
    reason: str = Field(default="", max_length=200)
    created_at: datetime = _ts()


class ContactContext(SQLModel, table=True):
    """What the last completed conversation with a person left behind, across campaigns.

    Keyed by the CRM's external id; the next call to that person, in any campaign, receives it
    as dynamic variables so the agent can pick up where the last call ended.
    """

    external_id: str = Field(primary_key=True, max_length=200)
    phone_number: str = Field(index=True, max_length=20)
    conversation_id: str | None = Field(default=None, max_length=100)
    campaign_name: str | None = Field(default=None, max_length=200)
    last_call_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_outcome: str | None = Field(default=None, max_length=20)
    last_summary: str | None = None
    collected: dict[str, Any] = _json()
    updated_at: datetime = _ts()


class ApiToken(SQLModel, table=True):
    """A bearer token for the HTTP API; only its SHA-256 hash is stored."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    scope: str = Field(max_length=20)
    token_hash: str = Field(unique=True, max_length=64)
    prefix: str = Field(max_length=16)
    created_at: datetime = _ts()
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebSession(SQLModel, table=True):
    """A browser signed in with a token (the dashboard); only the SHA-256 of its id is stored.

    Live while not revoked, before `expires_at` (absolute) and seen within the idle limit, and
    only while its token is live: revoking the token ends its sessions.
    """

    id: int | None = Field(default=None, primary_key=True)
    token_id: int = Field(foreign_key="apitoken.id", index=True)
    id_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = _ts()
    last_seen_at: datetime = _ts()
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class IdempotencyRecord(SQLModel, table=True):
    """The stored answer to a request made with an `Idempotency-Key`, replayed on repeats."""

    __table_args__ = (UniqueConstraint("token_id", "key", name="uq_idempotency_token_key"),)

    id: int | None = Field(default=None, primary_key=True)
    token_id: int = Field(foreign_key="apitoken.id")
    key: str = Field(max_length=200)
    request_hash: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] = _json()
    created_at: datetime = _ts()


class Notification(SQLModel, table=True):
    """An outbound webhook to the CRM (final disposition of a contact), with its delivery state."""

    __table_args__ = (Index("ix_notification_status_next", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    attempt_id: int | None = Field(default=None, foreign_key="attempt.id")
    url: str
    #: The `webhook-id` the CRM deduplicates by: one per notification, the same on every retry.
    message_id: str = Field(default_factory=lambda: f"msg_{uuid4().hex}", max_length=64)
    payload: dict[str, Any] = _json()
    status: str = Field(default="pending", max_length=20)
    tries: int = 0
    next_attempt_at: datetime = _ts()
    last_error: str | None = None
    created_at: datetime = _ts()
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# Flattened data-collection and evaluation values for reports, kept by triggers on `outcome`.
from orchestrator.store import outcome_values  # noqa: E402, F401
