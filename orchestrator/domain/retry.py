"""Retry policy: whether and when an ended attempt is tried again."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.domain.attempt import AttemptState


@dataclass(frozen=True)
class RetryRules:
    """Delays per outcome key and the attempt cap per contact."""

    max_attempts: int
    delay_secs: dict[str, float]


def outcome_key(state: AttemptState, call_successful: str | None) -> str | None:
    """The key retry delays are configured under (`no_answer`, `failure`, ...)."""
    if state in (
        AttemptState.NO_ANSWER,
        AttemptState.BUSY,
        AttemptState.VOICEMAIL,
        AttemptState.FAILED,
    ):
        return state.value
    if state is AttemptState.COMPLETED and call_successful in ("failure", "unknown"):
        return call_successful
    return None


def retry_delay(
    rules: RetryRules, state: AttemptState, call_successful: str | None, attempts_made: int
) -> float | None:
    """Seconds until the next attempt, or None when the contact is done.

    Only outcomes with a configured delay are retried, and never past the cap.
    """
    if attempts_made >= rules.max_attempts:
        return None
    key = outcome_key(state, call_successful)
    if key is None:
        return None
    return rules.delay_secs.get(key)
