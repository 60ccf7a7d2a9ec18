"""Retry policy: a delay per outcome, never past the cap, never after a successful call."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain.attempt import AttemptState
from orchestrator.domain.campaign_policy import RetryConfig
from orchestrator.domain.retry import RetryRules, outcome_key, retry_delay

DEFAULTS = RetryConfig()
RULES = RetryRules(max_attempts=DEFAULTS.max_attempts, delay_secs=DEFAULTS.delay_secs)


@pytest.mark.parametrize(
    ("state", "successful", "delay"),
    [
        (AttemptState.NO_ANSWER, None, 3600.0),
        (AttemptState.BUSY, None, 900.0),
        (AttemptState.VOICEMAIL, None, 7200.0),
        (AttemptState.FAILED, None, 1800.0),
        # A reached person is not called again by default: analysis outcomes are opt-in.
        (AttemptState.COMPLETED, "failure", None),
        (AttemptState.COMPLETED, "unknown", None),
    ],
)
def test_each_outcome_gets_its_configured_delay(
    state: AttemptState, successful: str | None, delay: float | None
) -> None:
    assert retry_delay(RULES, state, successful, attempts_made=1) == delay


def test_analysis_outcomes_retry_when_the_campaign_opts_in() -> None:
    rules = RetryRules(max_attempts=3, delay_secs={"failure": 86400.0, "unknown": 600.0})
    assert retry_delay(rules, AttemptState.COMPLETED, "failure", 1) == 86400.0
    assert retry_delay(rules, AttemptState.COMPLETED, "unknown", 1) == 600.0


@pytest.mark.parametrize("attempts_made", [1, 2, 3, 10])
def test_completed_and_successful_is_never_retried(attempts_made: int) -> None:
    assert retry_delay(RULES, AttemptState.COMPLETED, "success", attempts_made) is None
    assert outcome_key(AttemptState.COMPLETED, "success") is None


def test_completed_without_analysis_is_not_retried() -> None:
    assert retry_delay(RULES, AttemptState.COMPLETED, None, 1) is None


@pytest.mark.parametrize(
    "state",
    [
        AttemptState.SCHEDULED,
        AttemptState.QUEUED,
        AttemptState.DIALING,
        AttemptState.UNKNOWN,
        AttemptState.INITIATED,
        AttemptState.IN_PROGRESS,
        AttemptState.CANCELED,
    ],
)
def test_live_and_canceled_attempts_are_not_retried(state: AttemptState) -> None:
    assert retry_delay(RULES, state, "failure", 1) is None


def test_the_cap_is_respected() -> None:
    rules = RetryRules(max_attempts=3, delay_secs={"busy": 60.0})
    assert retry_delay(rules, AttemptState.BUSY, None, 2) == 60.0
    assert retry_delay(rules, AttemptState.BUSY, None, 3) is None
    assert retry_delay(rules, AttemptState.BUSY, None, 4) is None


def test_outcomes_without_a_configured_delay_are_not_retried() -> None:
    rules = RetryRules(max_attempts=5, delay_secs={"busy": 60.0})
    assert retry_delay(rules, AttemptState.NO_ANSWER, None, 1) is None


@given(
    st.sampled_from(list(AttemptState)),
    st.sampled_from([None, "success", "failure", "unknown"]),
    st.integers(min_value=0, max_value=30),
    st.integers(min_value=1, max_value=20),
)
def test_no_retry_at_or_past_the_cap(
    state: AttemptState, successful: str | None, made: int, cap: int
) -> None:
    rules = RetryRules(max_attempts=cap, delay_secs=DEFAULTS.delay_secs)
    delay = retry_delay(rules, state, successful, made)
    if made >= cap or (state is AttemptState.COMPLETED and successful == "success"):
        assert delay is None
    if delay is not None:
        assert delay == DEFAULTS.delay_secs[outcome_key(state, successful) or ""]
