"""The last check before a dial: may this attempt be called right now?

Cancel (with the reason) when the campaign is canceled, the number is on the do-not-call list, or
the contact's calling window will never open again (past the end date, zones that never share an
hour). Hand back to the dispatcher with the calendar instant it may run again when the campaign is
paused, the window is closed, or the region's cap on attempts per 24 hours is reached. Otherwise
go, with the instant the window closes (the burst `deadline` policy reads it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select

from orchestrator.deps import Deps
from orchestrator.domain.attempt import LIVE, TERMINAL, AttemptState
from orchestrator.domain.campaign_policy import CampaignPolicy
from orchestrator.domain.windows.contact import ContactWindow, window_at
from orchestrator.domain.windows.location import locate
from orchestrator.store.models import Attempt, Campaign, Contact, DoNotCall

#: States in which an attempt reached the provider (it counts against per-24 h caps).
DIALLED = frozenset((LIVE | TERMINAL) - {AttemptState.CANCELED})


@dataclass(frozen=True)
class Gate:
    """Go (until `closes_at`), cancel (with the reason), or wait until `not_before`.

    Instants are on the calendar (`Deps.calendar`), not necessarily real time.
    """

    ok: bool
    cancel_reason: str | None = None
    not_before: datetime | None = None
    closes_at: datetime | None = None


def contact_window(
    deps: Deps, contact: Contact, phone: str, policy: CampaignPolicy, now: datetime
) -> ContactWindow:
    """The window of `contact` (dialled at `phone`) at calendar instant `now`."""
    location = locate(phone, contact.timezone, policy.timezone)
    return window_at(policy, deps.settings.legal, location, now)


async def admit(
    deps: Deps,
    attempt: Attempt,
    contact: Contact,
    campaign: Campaign,
    policy: CampaignPolicy,
    now: datetime,
    *,
    listed: bool | None = None,
) -> Gate:
    """Decide whether `attempt` may be dialled at calendar instant `now`.

    `listed` says whether the number is on the do-not-call list, when the caller read it
    already (None: read it here).
    """
    if campaign.status == "canceled":
        return Gate(ok=False, cancel_reason="campaign canceled")
    if listed is None:
        async with deps.db.quick() as s:
            listed = await s.get(DoNotCall, attempt.phone_number) is not None
    if listed:
        return Gate(ok=False, cancel_reason="number on the do-not-call list")
    window = contact_window(deps, contact, attempt.phone_number, policy, now)
    if window.verdict.never:
        return Gate(ok=False, cancel_reason=window.never_reason())
    if campaign.status == "paused":
        return Gate(ok=False, not_before=now)
    if not window.verdict.open:
        return Gate(ok=False, not_before=window.verdict.opens_at)
    cap = window.legal.max_attempts_per_24h
    if cap is not None:
        free_at = await _cap_frees_at(deps, attempt, cap, now)
        if free_at is not None:
            return Gate(ok=False, not_before=free_at)
    return Gate(ok=True, closes_at=window.verdict.closes_at)


async def _cap_frees_at(deps: Deps, attempt: Attempt, cap: int, now: datetime) -> datetime | None:
    """When the number may be dialled again under a cap of `cap` dials per 24 h, or None: now."""
    since = deps.calendar.to_real(now - timedelta(hours=24))
    async with deps.db.quick() as s:
        starts = (
            await s.exec(
                select(Attempt.dial_started_at)
                .where(
                    Attempt.phone_number == attempt.phone_number,
                    col(Attempt.id) != attempt.id,
                    col(Attempt.state).in_([st.value for st in DIALLED]),
                    col(Attempt.dial_started_at) >= since,
                )
                .order_by(col(Attempt.dial_started_at).desc())
                .limit(cap)
            )
        ).all()
    if len(starts) < cap:
        return None
    oldest = starts[-1]
    assert oldest is not None
    return deps.calendar.at(oldest.timestamp()) + timedelta(hours=24)
