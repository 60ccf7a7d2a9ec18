"""Outcome notifications to the CRM: an outbox table delivered by the worker.

When a contact's disposition becomes final, a notification row is written in the same transaction
(so it can't be lost or sent for a change that rolled back). The worker POSTs it signed the
Standard Webhooks way (`domain/signing.py`: `webhook-id` stable across retries,
`webhook-timestamp`, `webhook-signature`), retries with exponential backoff, and dead-letters it
after its last try.

Never unsigned without a word: a campaign that notifies a CRM without a usable secret stops the
web and the worker from starting in prod (`check_signing`) and is warned about elsewhere; in prod
such a notification is not sent at all (it fails its tries, saying why, and is dead-lettered).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.deps import Deps
from orchestrator.domain.campaign_policy import policy_of
from orchestrator.domain.signing import signed_headers, signer, signing_problem
from orchestrator.domain.variables import redact
from orchestrator.errors import UnsignedNotifications
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
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

MAX_TRIES = 8
BASE_DELAY_SECS = 5.0
MAX_DELAY_SECS = 3600.0


async def unsigned_campaigns(db: Database, env: Mapping[str, str]) -> list[tuple[str, str]]:
    """(campaign name, problem) of each campaign whose notifications could not be signed."""
    try:
        async with db.read() as s:
            stored = (await s.exec(select(Campaign).order_by(col(Campaign.id)))).all()
    except SQLAlchemyError as exc:
        # Not migrated yet, or unreachable: the process may still start (health says so); a
        # notification that cannot be signed is still never sent unsigned in prod.
        log.warning("notify.signing_not_checked", error=type(exc).__name__)
        return []
    found = []
    for campaign in stored:
        problem = signing_problem(policy_of(campaign.config).notifications, env)
        if problem is not None:
            found.append((campaign.name, problem))
    return found


async def check_signing(
    db: Database, settings: Settings, env: Mapping[str, str] | None = None
) -> list[str]:
    """At start-up: every campaign that notifies a CRM must be able to sign.

    Returns the problems (logged as warnings) outside prod.

    Raises:
        UnsignedNotifications: in prod, when any campaign cannot sign; each is named.
    """
    problems = [
        f"campaign {name!r} notifies a CRM but {problem}"
        for name, problem in await unsigned_campaigns(db, os.environ if env is None else env)
    ]
    if problems and settings.env == "prod":
        raise UnsignedNotifications(
            "refusing to start: CRM notifications would go unsigned — " + "; ".join(problems)
        )
    for problem in problems:
        log.warning("notify.unsigned_campaign", problem=problem, sent="UNSIGNED outside prod")
    return problems


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


async def _post(
    deps: Deps, http: httpx.AsyncClient, note: Notification, campaign: Campaign
) -> str | None:
    """POST one notification, signed; the error, or None when the CRM took it."""
    body = json.dumps(note.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "X-Orchestrator-Event": "contact.final"}
    notifications = policy_of(campaign.config).notifications
    hook = signer(notifications, os.environ)
    if hook is not None:
        headers.update(signed_headers(hook, note.message_id, int(time.time()), body))
    else:
        problem = signing_problem(notifications, os.environ) or "no signing secret"
        if deps.settings.env == "prod":
            log.error("notify.not_signed", notification_id=note.id, problem=problem)
            return f"not sent: {problem}"
        log.warning(
            "notify.sent_unsigned", notification_id=note.id, problem=problem, env=deps.settings.env
        )
    try:
        response = await http.post(note.url, content=body, headers=headers, timeout=10.0)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if response.is_success else f"HTTP {response.status_code}"


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
    error = await _post(deps, http, note, campaign)
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
