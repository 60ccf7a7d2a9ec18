"""Pausing, resuming and canceling a campaign (the CLI and the HTTP routes call these).

- pause: the dispatcher stops claiming the campaign's attempts, and those already queued go back
  to `scheduled` (their jobs, when they run, find nothing to dial). Calls already live end
  normally.
- resume: the campaign is active again; its scheduled attempts are dispatched as they fall due.
- cancel: every scheduled or queued attempt is canceled by compare-and-set, and every contact
  that was only waiting for one gets the `canceled` disposition; live calls end normally and plan
  no retry. A canceled campaign cannot be resumed.

Each returns how many attempts it changed, and is idempotent: doing it twice changes nothing more.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import func, update
from sqlmodel import col, select

from orchestrator.domain.attempt import CANCELABLE, LIVE, AttemptState
from orchestrator.domain.outcome import Disposition
from orchestrator.errors import ValidationFailed
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Campaign, Contact
from orchestrator.store.types import utcnow

log = structlog.get_logger(__name__)

ACTIVE, PAUSED, CANCELED = "active", "paused", "canceled"


async def _set_status(db: Database, campaign: Campaign, status: str, allowed: list[str]) -> bool:
    """Move the campaign's status (compare-and-set on the current one); True when it moved."""
    async with db.session() as s:
        result: Any = await s.exec(
            update(Campaign)
            .where(col(Campaign.id) == campaign.id, col(Campaign.status).in_(allowed))
            .values(status=status, updated_at=utcnow())
        )
        current = (await s.exec(select(Campaign.status).where(Campaign.id == campaign.id))).one()
    campaign.status = current
    return int(result.rowcount) == 1


async def pause_campaign(db: Database, campaign: Campaign) -> int:
    """Pause: stop dispatching; queued attempts go back to scheduled.

    Returns:
        How many pending attempts were put on hold (0 when it was already paused).

    Raises:
        ValidationFailed: the campaign is canceled.
    """
    if not await _set_status(db, campaign, PAUSED, [ACTIVE]):
        if campaign.status == CANCELED:
            raise ValidationFailed([("status", "the campaign is canceled; it cannot be paused")])
        return 0
    async with db.session() as s:
        await s.exec(
            update(Attempt)
            .where(
                col(Attempt.campaign_id) == campaign.id,
                col(Attempt.state) == AttemptState.QUEUED.value,
            )
            .values(state=AttemptState.SCHEDULED.value, queued_at=None, updated_at=utcnow())
        )
        held = await _count_pending(s, campaign)
    log.info("campaign.paused", campaign=campaign.name, attempts=held)
    return held


async def resume_campaign(db: Database, campaign: Campaign) -> int:
    """Resume a paused campaign.

    Returns:
        How many scheduled attempts may be dispatched again (0 when it was already active).

    Raises:
        ValidationFailed: the campaign is canceled.
    """
    if not await _set_status(db, campaign, ACTIVE, [PAUSED]):
        if campaign.status == CANCELED:
            raise ValidationFailed([("status", "the campaign is canceled; it cannot be resumed")])
        return 0
    async with db.session() as s:
        resumed = await _count_pending(s, campaign)
    log.info("campaign.resumed", campaign=campaign.name, attempts=resumed)
    return resumed


async def cancel_campaign(db: Database, campaign: Campaign) -> int:
    """Cancel: every scheduled or queued attempt is canceled; waiting contacts too.

    Returns:
        How many attempts were canceled (0 when nothing was left to cancel).
    """
    await _set_status(db, campaign, CANCELED, [ACTIVE, PAUSED])
    canceled = await cancel_pending(db, campaign.id or 0, "campaign canceled")
    log.info("campaign.canceled", campaign=campaign.name, attempts=canceled)
    return canceled


async def cancel_pending(db: Database, campaign_id: int, reason: str) -> int:
    """Cancel the campaign's scheduled and queued attempts and its waiting contacts."""
    now = utcnow()
    async with db.session() as s:
        result: Any = await s.exec(
            update(Attempt)
            .where(
                col(Attempt.campaign_id) == campaign_id,
                col(Attempt.state).in_([st.value for st in CANCELABLE]),
            )
            .values(
                state=AttemptState.CANCELED.value,
                error=reason,
                ended_at=now,
                updated_at=now,
                # Nothing ran, so there is nothing to settle and no retry to plan.
                retry_planned=True,
            )
        )
        live = (
            select(Attempt.id)
            .where(
                col(Attempt.contact_id) == Contact.id,
                col(Attempt.state).in_([st.value for st in LIVE]),
            )
            .exists()
        )
        # A contact whose call is live keeps waiting for its end, which settles it.
        await s.exec(
            update(Contact)
            .where(
                col(Contact.campaign_id) == campaign_id,
                col(Contact.disposition).in_(
                    [
                        Disposition.PENDING.value,
                        Disposition.IN_PROGRESS.value,
                        Disposition.PARKED.value,
                    ]
                ),
                ~live,
            )
            .values(disposition=Disposition.CANCELED.value, updated_at=now)
        )
    return int(result.rowcount)


async def sweep_canceled(db: Database) -> int:
    """Cancel what reached `scheduled` in a canceled campaign after it was canceled.

    A dial refused or an unknown dial released while the cancel ran puts its attempt back to
    `scheduled`; the dispatcher never claims it, so this sweep (run by the housekeeping loop)
    settles it.
    """
    async with db.session() as s:
        ids = (
            await s.exec(
                select(Attempt.campaign_id)
                .join(Campaign, col(Campaign.id) == Attempt.campaign_id)
                .where(
                    Campaign.status == CANCELED,
                    col(Attempt.state).in_([st.value for st in CANCELABLE]),
                )
                .distinct()
            )
        ).all()
    return sum([await cancel_pending(db, campaign_id, "campaign canceled") for campaign_id in ids])


async def _count_pending(s: Any, campaign: Campaign) -> int:
    return int(
        (
            await s.exec(
                select(func.count())
                .select_from(Attempt)
                .where(
                    Attempt.campaign_id == campaign.id,
                    col(Attempt.state).in_([st.value for st in CANCELABLE]),
                )
            )
        ).one()
    )
