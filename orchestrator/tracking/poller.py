"""Polling fallback and reconciliation: whatever a webhook never told us, the provider's API does.

- Live attempts with no news for `poll_after_secs` are polled (GET conversation) and merged.
- Attempts whose dial POST had an unknown fate (`unknown`), or that sat in `dialing` past any
  possible answer (a worker killed between claim and dial), are looked up by `user_id`, agent and
  start time; a conversation found is adopted. Only after `unknown_grace_secs` with none found is
  the attempt released and scheduled again — never a redial while the call may exist.
- Live calls whose leases expired are asked about again (`recover_lost_leases`), and leases held
  by attempts with no call are freed (`release_orphans`), so slots neither leak nor vanish.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, or_
from sqlmodel import col, select

from orchestrator.dialing.dial import dial_deadline_secs
from orchestrator.dialing.scopes import account_scope, scopes_for
from orchestrator.domain.attempt import AttemptState, is_terminal
from orchestrator.domain.outcome import facts_from_conversation
from orchestrator.errors import ProviderError
from orchestrator.runtime import Deps
from orchestrator.store.attempts import transition
from orchestrator.store.models import Attempt, Campaign, Contact
from orchestrator.tracking.events import replay_unmatched
from orchestrator.tracking.finalize import finish_attempt
from orchestrator.tracking.merge import merge_facts
from orchestrator.tracking.parking import count_failure

log = structlog.get_logger(__name__)

POLL_CONCURRENCY = 8
#: Slack around the dial's start when matching conversations by start time (clock skew).
START_SLACK_SECS = 120
#: A handed-back attempt still holding slots this long after its last change is an orphan.
ORPHAN_SETTLE_SECS = 10.0
#: The failure kind of a dial whose fate stayed unknown with no call found at the provider.
NO_CALL_FOUND = "no_call_found"


async def poll_stale(deps: Deps, *, limit: int = 200) -> int:
    """Poll live attempts whose last news is too old; returns how many were polled."""
    cutoff = deps.now() - timedelta(seconds=deps.settings.poll_after_secs)
    async with deps.db.read() as s:
        rows = (
            await s.exec(
                select(Attempt.id, Attempt.conversation_id)
                .where(
                    col(Attempt.state).in_(
                        [AttemptState.INITIATED.value, AttemptState.IN_PROGRESS.value]
                    ),
                    col(Attempt.conversation_id).is_not(None),
                    col(Attempt.last_news_at) < cutoff,
                )
                .order_by(col(Attempt.last_news_at))
                .limit(limit)
            )
        ).all()
    gate = asyncio.Semaphore(POLL_CONCURRENCY)

    async def one(attempt_id: int, conversation_id: str) -> None:
        async with gate:
            try:
                record = await deps.provider.get_conversation(conversation_id)
                if record is not None:
                    await merge_facts(deps, attempt_id, facts_from_conversation(record), "poll")
            except ProviderError as exc:
                log.warning("poll.failed", attempt_id=attempt_id, reason=str(exc))
            except Exception:
                # One call we cannot ask about or merge never stops the others being polled.
                log.exception("poll.record_failed", attempt_id=attempt_id)

    await asyncio.gather(*(one(a, c) for a, c in rows if a is not None and c is not None))
    return len(rows)


async def reconcile_unknown(deps: Deps, *, limit: int = 100) -> int:
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
    resolved = 0
    for attempt, contact, campaign in rows:
        try:
            if await _resolve_one(deps, attempt, contact, campaign, now):
                resolved += 1
        except Exception:
            # One attempt we cannot resolve never stops the others; it is tried again next pass.
            log.exception("reconcile.record_failed", attempt_id=attempt.id)
    return resolved


async def _resolve_one(
    deps: Deps, attempt: Attempt, contact: Contact, campaign: Campaign, now: datetime
) -> bool:
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
        return False
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
        if adopted:
            log.info("reconcile.adopted", attempt_id=attempt.id, conversation_id=conversation_id)
            # Its webhooks came while no attempt knew the conversation: they apply now.
            await replay_unmatched(deps, conversation_id)
            record = await deps.provider.get_conversation(conversation_id)
            if record is not None:
                await merge_facts(deps, attempt.id, facts_from_conversation(record), "reconcile")
        return adopted
    if (now - started).total_seconds() < deps.settings.unknown_grace_secs:
        return False
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
        if moved is not None:
            log.info("reconcile.released", attempt_id=attempt.id, state=moved.value)
        return moved is not None
    async with deps.db.session() as s:
        released = await transition(
            s,
            attempt.id,
            [AttemptState.UNKNOWN, AttemptState.DIALING],
            AttemptState.CANCELED,
            due_at=now,
            queued_at=None,
            error="campaign canceled",
        )
        if released:
            db_contact = await s.get(Contact, contact.id)
            if db_contact is not None and db_contact.attempts_made > 0:
                db_contact.attempts_made -= 1
    if released:
        await deps.limiter.release(
            attempt.id, scopes_for(deps.settings, campaign, attempt.phone_number).all
        )
        await finish_attempt(deps, attempt.id)
        log.info("reconcile.released", attempt_id=attempt.id, canceled=True)
    return released


async def recover_lost_leases(deps: Deps, *, limit: int = 200) -> int:
    """Ask the provider about live calls whose leases are gone; returns how many were asked.

    A lease expires when no news renewed it for the longest possible call: the call may still run
    (the provider counts it) or may have ended unnoticed (a lost webhook). Either way it is never
    forgotten: the merge of the provider's answer re-takes the slots or settles the end.
    """
    held = set(await deps.limiter.holders(account_scope(deps.settings), now=deps.clock()))
    async with deps.db.read() as s:
        rows = (
            await s.exec(
                select(Attempt.id, Attempt.conversation_id).where(
                    col(Attempt.state).in_(
                        [AttemptState.INITIATED.value, AttemptState.IN_PROGRESS.value]
                    ),
                    col(Attempt.conversation_id).is_not(None),
                )
            )
        ).all()
    lost = [(a, c) for a, c in rows if a is not None and c and str(a) not in held][:limit]
    for attempt_id, conversation_id in lost:
        try:
            record = await deps.provider.get_conversation(conversation_id)
            if record is not None:
                log.warning("lease.lost", attempt_id=attempt_id, conversation_id=conversation_id)
                await merge_facts(deps, attempt_id, facts_from_conversation(record), "lease")
        except ProviderError as exc:
            log.warning("lease.poll_failed", attempt_id=attempt_id, reason=str(exc))
        except Exception:
            # One call we cannot ask about never stops the others (see `poll_stale`).
            log.exception("lease.record_failed", attempt_id=attempt_id)
    return len(lost)


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
