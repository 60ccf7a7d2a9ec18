"""The attempt state machine: progress only goes forward and never leaves a terminal state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain.attempt import (
    CANCELABLE,
    LIVE,
    TERMINAL,
    AttemptState,
    is_terminal,
    may_advance,
    rank,
)

states = st.sampled_from(list(AttemptState))


@given(states, states)
def test_may_advance_never_moves_backwards(current: AttemptState, new: AttemptState) -> None:
    if may_advance(current, new):
        assert rank(new) > rank(current)


@given(states, states)
def test_may_advance_never_leaves_a_terminal_state(
    current: AttemptState, new: AttemptState
) -> None:
    if current in TERMINAL:
        assert not may_advance(current, new)


@given(states, states)
def test_may_advance_accepts_plain_strings(current: AttemptState, new: AttemptState) -> None:
    assert may_advance(current.value, new.value) == may_advance(current, new)


@given(states)
def test_a_state_never_advances_to_itself(state: AttemptState) -> None:
    assert not may_advance(state, state)


@given(states, states, states)
def test_advancing_is_transitive(a: AttemptState, b: AttemptState, c: AttemptState) -> None:
    if may_advance(a, b) and may_advance(b, c):
        assert may_advance(a, c)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("scheduled", "queued"),
        ("queued", "dialing"),
        ("dialing", "initiated"),
        ("unknown", "initiated"),
        ("initiated", "in_progress"),
        ("in_progress", "completed"),
        ("initiated", "voicemail"),
        ("dialing", "busy"),
        ("scheduled", "canceled"),
    ],
)
def test_forward_moves_are_allowed(current: str, new: str) -> None:
    assert may_advance(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("in_progress", "initiated"),
        ("initiated", "dialing"),
        ("dialing", "unknown"),
        ("unknown", "dialing"),
        ("completed", "failed"),
        ("voicemail", "completed"),
        ("canceled", "scheduled"),
    ],
)
def test_backward_sideways_and_terminal_moves_are_refused(current: str, new: str) -> None:
    assert not may_advance(current, new)


def test_unknown_state_names_are_rejected() -> None:
    with pytest.raises(ValueError):
        may_advance("scheduled", "exploded")


def test_state_sets_are_consistent() -> None:
    assert all(is_terminal(s) for s in TERMINAL)
    assert not any(is_terminal(s) for s in LIVE | CANCELABLE)
    assert not LIVE & CANCELABLE
    assert {rank(s) for s in TERMINAL} == {max(rank(s) for s in AttemptState)}
