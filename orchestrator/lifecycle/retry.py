"""The next attempt of a contact whose attempt ended: whether, and when.

The campaign's retry rules (`domain/retry.py`: per outcome, a delay and an attempt cap) say
whether and after how long; the contact's calling window moves the time to its next opening, so
closed windows never enter the dispatcher's due set.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from orchestrator.deps import Deps
from orchestrator.domain.attempt import AttemptState
from orchestrator.domain.campaign_policy import policy_of
from orchestrator.domain.retry import RetryRules, retry_delay
from orchestrator.domain.windows.contact import window_at
from orchestrator.domain.windows.location import locate
from orchestrator.store.models import Attempt, Campaign, Contact


def plan_retry(
    deps: Deps, attempt: Attempt, contact: Contact, campaign: Campaign, successful: str | None
) -> tuple[float, Attempt] | None:
    """(delay in seconds, the next attempt to add) after `attempt` ended, or None: no retry."""
    if campaign.status != "active":
        return None
    state = AttemptState(attempt.state)
    delay = retry_delay(_rules(campaign), state, successful, contact.attempts_made)
    if delay is None:
        return None
    due = retry_due(deps, contact, campaign, deps.now() + timedelta(seconds=delay))
    return delay, Attempt(
        campaign_id=campaign.id or 0,
        contact_id=contact.id or 0,
        seq=attempt.seq + 1,
        phone_number=contact.phone_number,
        due_at=due,
        # A retry is the same intended call: values given for it (POST /v1/calls) stay.
        call_data=dict(attempt.call_data or {}),
    )


def _rules(campaign: Campaign) -> RetryRules:
    retry = policy_of(campaign.config).retry
    return RetryRules(max_attempts=retry.max_attempts, delay_secs=dict(retry.delay_secs))


def retry_due(deps: Deps, contact: Contact, campaign: Campaign, earliest: datetime) -> datetime:
    """`earliest`, or the next opening of the contact's calling window after it.

    Planning it here keeps closed windows out of the dispatcher's due set; a window that never
    opens again is left to the dispatcher, which cancels the attempt with the reason.
    """
    policy = policy_of(campaign.config)
    calendar = deps.calendar
    location = locate(contact.phone_number, contact.timezone, policy.timezone)
    window = window_at(policy, deps.settings.legal, location, calendar.at(earliest.timestamp()))
    if window.verdict.opens_at is not None:
        return calendar.to_real(window.verdict.opens_at)
    return earliest
