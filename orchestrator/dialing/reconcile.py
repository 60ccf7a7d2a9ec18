"""The dialer's reconciliation: a dial whose fate is unknown is adopted or released, never redialled
while the call may exist.

Attempts whose dial POST had an unknown fate (`unknown`), or that sat in `dialing` past any
possible answer (a worker killed between claim and dial), are looked up at the provider by
`user_id`, agent and start time; a conversation found is adopted (the caller then merges the
provider's record: `tracking.poller.merge_adopted`). Only after `unknown_grace_secs` with none
found is the attempt released and scheduled again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, or_
from sqlmodel import col, select

from orchestrator.deps import Deps
from orchestrator.dialing.send import dial_deadline_secs
from orchestrator.domain.attempt import AttemptState
from orchestrator.errors import ProviderError
from orchestrator.lifecycle import count_failure, end_attempt, replay_unmatched
from orchestrator.store.attempts import transition
from orchestrator.store.models import Attempt, Campaign, Contact

log = structlog.get_logger(__name__)

#: Slack around the dial's start when matching conversations by start time (clock skew).
START_SLACK_SECS = 120
#: The failure kind of a dial whose fate stayed unknown with no call found at the provider.
NO_CALL_FOUND = "no_call_found"


@dataclass
class Reconciled:
    """What one pass resolved: how many attempts, and the calls it adopted."""

    resolved: int = 0
    #: (attempt id, conversation id) of each adopted call, for the caller to merge.
    adopted: list[tuple[int, str]] = field(default_factory=list)


async def reconcile_unknown(deps: Deps, *, limit: int = 100) -> Reconciled:
    """Adopt or release attempts whose dial fate is unknown; returns how many were resolved."""
    now = deps.now()
    # Past this, a dialer still alive has finished its POST (see `dial_deadline_secs`): a
    # `dialing` attempt this old belongs to a worker that died between its claim and its dial.
    dialing_cutoff = now - timedelta(seconds=dial_deadline_secs(deps.settings))
    async with deps.db.read() as s:
        rows = (
            await s.exec(
                select(Attempt, Contact, Campaign)
                .join(Contact, col(Contact.id) == Attempt.contact_id)
                .join(Campaign, col(Campaign.id) == Attempt.campaign_id)
                .where(
                    or_(
                        col(Attempt.state) == AttemptState.UNKNOWN.value,
                        and_(
                            col(Attempt.state) == AttemptState.DIALING.value,
                            col(Attempt.dial_started_at) < dialing_cutoff,
                        ),
                    )
                )
                .limit(limit)
            )
        ).all()
    done = Reconciled()
    for attempt, contact, campaign in rows:
        try:
            outcome = await _resolve_one(deps, attempt, contact, campaign, now)
        except Exception:
            # One attempt we cannot resolve never stops the others; it is tried again next pass.
            log.exception("reconcile.record_failed", attempt_id=attempt.id)
            continue
        if outcome is not None:
            done.resolved += 1
            if isinstance(outcome, str) and attempt.id is not None:  # adopted
                done.adopted.append((attempt.id, outcome))
    return done


async def _resolve_one(
    deps: Deps, attempt: Attempt, contact: Contact, campaign: Campaign, now: datetime
) -> str | bool | None:
    """The adopted call's conversation id, True when released, None when nothing changed."""
    assert attempt.id is not None
    started = attempt.dial_started_at or attempt.updated_at
    try:
        found = await deps.provider.list_conversations(
            agent_id=campaign.agent_id,
            user_id=contact.external_id,
            call_start_after_unix=int(started.timestamp()) - START_SLACK_SECS,
        )
    except ProviderError as exc:
        log.warning("reconcile.list_failed", attempt_id=attempt.id, reason=str(exc))
        return None
    async with deps.db.read() as s:
        known = set(
            (
                await s.exec(
                    select(Attempt.conversation_id).where(
                        col(Attempt.conversation_id).in_(
                            [c.get("conversation_id") for c in found if c.get("conversation_id")]
                        )
                    )
                )
            ).all()
        )
    candidates = [c for c in found if c.get("conversation_id") not in known]
    if candidates:
        conversation_id = str(candidates[-1]["conversation_id"])
        async with deps.db.session() as s:
            adopted = await transition(
                s,
                attempt.id,
                [AttemptState.UNKNOWN, AttemptState.DIALING],
                AttemptState.INITIATED,
                conversation_id=conversation_id,
                initiated_at=now,
                last_news_at=now,
                error=None,
            )
        if not adopted:
            return None
        log.info("reconcile.adopted", attempt_id=attempt.id, conversation_id=conversation_id)
        # Its webhooks came while no attempt knew the conversation: they apply now.
        await replay_unmatched(deps, conversation_id)
        return conversation_id
    if (now - started).total_seconds() < deps.settings.unknown_grace_secs:
        return None
    # No call exists: the attempt never reached anyone. Dial it again — unless its campaign was
    # canceled meanwhile, in which case it ends here. Counted as a failure: an attempt that ends
    # up here again and again (its dialer dies every time) is parked, not redialled forever.
    if campaign.status != "canceled":
        moved = await count_failure(
            deps,
            attempt.id,
            [AttemptState.UNKNOWN, AttemptState.DIALING],
            NO_CALL_FOUND,
            "no call found at the provider after the grace period",
            undo_count=True,
            delay_secs=0.0,
        )
        if moved is None:
            return None
        log.info("reconcile.released", attempt_id=attempt.id, state=moved.value)
        return True
    released = await end_attempt(
        deps,
        attempt.id,
        [AttemptState.UNKNOWN, AttemptState.DIALING],
        AttemptState.CANCELED,
        "campaign canceled",
        undo_count=True,
        due_at=now,
        queued_at=None,
    )
    if released:
        log.info("reconcile.released", attempt_id=attempt.id, canceled=True)
    return True if released else None
