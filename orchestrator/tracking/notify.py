"""Outcome notifications to the CRM: an outbox table delivered by the worker.

When a contact's disposition becomes final, a notification row is written in the same transaction
(so it can't be lost or sent for a change that rolled back). The worker POSTs it, signed
`X-Orchestrator-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`, retries with exponential
backoff, and dead-letters it after its last try.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from datetime import timedelta
from typing import Any

import httpx
import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.domain.campaign_policy import policy_of
from orchestrator.domain.initiation import redact
from orchestrator.runtime import Deps
from orchestrator.store.models import (
    Attempt,
    Campaign,
    Contact,
    DeadLetter,
    Notification,
    Outcome,
)
from orchestrator.store.types import utcnow

log = structlog.get_logger(__name__)

HEADER = "X-Orchestrator-Signature"
MAX_TRIES = 8
BASE_DELAY_SECS = 5.0
MAX_DELAY_SECS = 3600.0


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value for `body` (the CRM verifies it like our provider webhooks)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


async def queue_final(
    s: AsyncSession, campaign: Campaign, contact: Contact, attempt: Attempt, outcome: Outcome | None
) -> None:
    """Write the notification for a contact whose disposition just became final."""
    url = policy_of(campaign.config).notifications.url
    if not url or campaign.id is None:
        return
    payload: dict[str, Any] = {
        "event": "contact.final",
        "campaign": campaign.name,
        "external_id": contact.external_id,
        "phone_number": contact.phone_number,
        "disposition": contact.disposition,
        "disposition_detail": contact.disposition_detail,
        "attempts": contact.attempts_made,
        "attempt_id": attempt.id,
        "conversation_id": attempt.conversation_id,
        "outcome": attempt.state,
    }
    if outcome is not None:
        payload.update(
            {
                "call_successful": outcome.call_successful,
                "summary": outcome.transcript_summary,
                "duration_secs": outcome.duration_secs,
                "transferred": outcome.transferred,
                "data_collection": redact(outcome.data_collection),
            }
        )
    s.add(Notification(campaign_id=campaign.id, attempt_id=attempt.id, url=url, payload=payload))


def _backoff(tries: int) -> float:
    return float(min(MAX_DELAY_SECS, BASE_DELAY_SECS * 2 ** (tries - 1)))


async def deliver_due(deps: Deps, http: httpx.AsyncClient, *, limit: int = 50) -> int:
    """Send the notifications that are due; returns how many were delivered."""
    now = utcnow()
    async with deps.db.session() as s:
        due = (
            await s.exec(
                select(Notification, Campaign)
                .join(Campaign, col(Campaign.id) == Notification.campaign_id)
                .where(Notification.status == "pending", col(Notification.next_attempt_at) <= now)
                .order_by(col(Notification.next_attempt_at))
                .limit(limit)
            )
        ).all()
    delivered = 0
    for note, campaign in due:
        if await _send(deps, http, note, campaign):
            delivered += 1
    return delivered


async def _send(
    deps: Deps, http: httpx.AsyncClient, note: Notification, campaign: Campaign
) -> bool:
    body = json.dumps(note.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "X-Orchestrator-Event": "contact.final"}
    secret_env = policy_of(campaign.config).notifications.secret_env
    secret = os.environ.get(secret_env) if secret_env else None
    if secret:
        headers[HEADER] = signature(secret, int(time.time()), body)
    error: str | None = None
    try:
        response = await http.post(note.url, content=body, headers=headers, timeout=10.0)
        error = None if response.is_success else f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    async with deps.db.session() as s:
        row = await s.get(Notification, note.id)
        if row is None or row.status != "pending":
            return False
        row.tries += 1
        if error is None:
            row.status = "delivered"
            row.delivered_at = utcnow()
        elif row.tries >= MAX_TRIES:
            row.status = "dead"
            row.last_error = error
            s.add(
                DeadLetter(
                    source="crm-notification",
                    reason=f"gave up after {row.tries} tries: {error}",
                    payload={"notification_id": row.id, "url": row.url, **row.payload},
                )
            )
        else:
            row.last_error = error
            row.next_attempt_at = utcnow() + timedelta(seconds=_backoff(row.tries))
        s.add(row)
    if error is not None:
        log.warning("notify.failed", notification_id=note.id, error=error)
    return error is None
