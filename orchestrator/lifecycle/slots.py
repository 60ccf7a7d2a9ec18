"""An attempt's slots: freed when it ends or is handed back, renewed while its call is live.

Releases are idempotent and every path that ends or hands back an attempt releases its slots;
`release_orphans` catches what a crash cut off between the database commit and the release, so a
slot never leaks.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlmodel import col, select

from orchestrator.deps import Deps
from orchestrator.domain.attempt import AttemptState, is_terminal
from orchestrator.limiter.scopes import account_scope, scopes_for
from orchestrator.store.models import Attempt, Campaign

log = structlog.get_logger(__name__)

#: A handed-back attempt still holding slots this long after its last change is an orphan.
ORPHAN_SETTLE_SECS = 10.0


async def release_slots(deps: Deps, attempt_id: int, campaign: Campaign, phone: str) -> None:
    """Free every slot the attempt may hold (idempotent)."""
    await deps.limiter.release(attempt_id, scopes_for(deps.settings, campaign, phone).all)


async def release_ended(deps: Deps, attempt_id: int) -> None:
    """Free the slots of an attempt whose call the provider reports over (idempotent)."""
    async with deps.db.quick() as s:
        attempt = await s.get(Attempt, attempt_id)
        campaign = await s.get(Campaign, attempt.campaign_id) if attempt is not None else None
    if attempt is not None and campaign is not None:
        await release_slots(deps, attempt_id, campaign, attempt.phone_number)


async def hold_slots(deps: Deps, attempt_id: int, campaign: Campaign, phone: str) -> None:
    """Renew the leases of a call the provider says is live (re-taking any that expired)."""
    settings = deps.settings
    await deps.limiter.hold(
        attempt_id,
        scopes_for(settings, campaign, phone).all,
        now=deps.clock(),
        lease_secs=settings.max_call_secs + settings.lease_margin_secs,
    )


async def release_orphans(deps: Deps) -> int:
    """Free leases whose attempt holds no call: ended, handed back, or gone from the database.

    Releases are idempotent and every path that ends or hands back an attempt releases its slots,
    so this only catches what a crash cut off between the database commit and the release.
    """
    account = account_scope(deps.settings)
    members = [m for m in await deps.limiter.holders(account, now=deps.clock()) if m.isdigit()]
    if not members:
        return 0
    settle = deps.now() - timedelta(seconds=ORPHAN_SETTLE_SECS)
    async with deps.db.read() as s:
        rows = (
            await s.exec(
                select(Attempt, Campaign)
                .join(Campaign, col(Campaign.id) == Attempt.campaign_id)
                .where(col(Attempt.id).in_([int(m) for m in members]))
            )
        ).all()
    freed = 0
    for attempt, campaign in rows:
        assert attempt.id is not None
        handed_back = attempt.state == AttemptState.SCHEDULED and attempt.updated_at < settle
        if (is_terminal(attempt.state) or handed_back) and await deps.limiter.release(
            attempt.id, scopes_for(deps.settings, campaign, attempt.phone_number).all
        ):
            freed += 1
    if freed:
        log.warning("lease.orphans_released", count=freed)
    return freed
