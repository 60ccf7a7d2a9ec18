"""Due attempts of campaigns the dispatcher cannot handle: counted as failures, then parked.

A campaign whose stored policy no longer validates (written before a rule was made stricter, or
behind the API's back) is left out of dispatching, so it never stops the others; this pass, run
by the worker's housekeeping, counts a failure against each of its due attempts, so after
`park_after_failures` of them they are parked with the reason (`tracking/parking.py`), visible
in `orchestrator parked`, `GET /v1/parked` and `/metrics`, instead of waiting silently forever.
"""

from __future__ import annotations

from sqlmodel import col, select

from orchestrator.deps import Deps
from orchestrator.domain.attempt import AttemptState
from orchestrator.domain.campaign_policy import policy_of
from orchestrator.lifecycle import count_failure, failure_kind, failure_reason
from orchestrator.store.models import Attempt, Campaign


def unusable_policy(config: object) -> Exception | None:
    """Why a stored campaign `config` cannot be used as a policy, or None when it can."""
    if config is not None and not isinstance(config, dict):
        return TypeError(f"the stored policy is a {type(config).__name__}, not an object")
    try:
        policy_of(config)
    except (ValueError, TypeError) as exc:
        return exc
    return None


async def park_unusable(deps: Deps, *, limit: int = 200) -> int:
    """Count a failure against due attempts of active campaigns whose policy is unusable.

    Returns:
        How many attempts were counted (rescheduled or parked).
    """
    async with deps.db.read() as s:
        campaigns = (
            await s.exec(select(Campaign.id, Campaign.config).where(Campaign.status == "active"))
        ).all()
    broken = {
        ident: exc
        for ident, config in campaigns
        if ident is not None and (exc := unusable_policy(config)) is not None
    }
    if not broken:
        return 0
    async with deps.db.read() as s:
        due = (
            await s.exec(
                select(Attempt.id, Attempt.campaign_id)
                .where(
                    Attempt.state == AttemptState.SCHEDULED.value,
                    col(Attempt.due_at) <= deps.now(),
                    col(Attempt.campaign_id).in_(list(broken)),
                )
                .order_by(col(Attempt.due_at))
                .limit(limit)
            )
        ).all()
    counted = 0
    for attempt_id, campaign_id in due:
        assert attempt_id is not None
        exc = broken[campaign_id]
        reason = f"the campaign's stored policy is not valid: {failure_reason(exc)}"
        moved = await count_failure(
            deps, attempt_id, [AttemptState.SCHEDULED], failure_kind(exc), reason
        )
        counted += moved is not None
    return counted
