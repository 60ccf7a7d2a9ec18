"""Smooth weighted round robin: shares by weight, interleaved, carried between passes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.scheduling.fairness import allocate


def test_one_pick_at_a_time_still_gives_each_its_weight() -> None:
    credit: dict[int, float] = {}
    picks = []
    for _ in range(12):
        share = allocate({1: 3, 2: 1}, {1: 100, 2: 100}, 1, credit)
        picks += [c for c, n in share.items() for _ in range(n)]
    assert picks.count(1) == 9 and picks.count(2) == 3
    # Interleaved, not in blocks: campaign 2 never waits more than three picks.
    assert picks[:4].count(2) == 1 and picks[4:8].count(2) == 1


def test_a_campaign_gets_no_more_than_it_has_due() -> None:
    share = allocate({1: 10, 2: 1}, {1: 2, 2: 50}, 20, {})
    assert share == {1: 2, 2: 18}


def test_room_beyond_everything_due_is_left_unused() -> None:
    assert allocate({1: 1, 2: 1}, {1: 3, 2: 0}, 10, {}) == {1: 3}


def test_an_idle_campaign_comes_back_without_banked_credit() -> None:
    credit: dict[int, float] = {}
    for _ in range(20):  # campaign 2 has nothing due for a while
        allocate({1: 1, 2: 1}, {1: 100, 2: 0}, 1, credit)
    assert 2 not in credit
    picks = [c for _ in range(10) for c in allocate({1: 1, 2: 1}, {1: 100, 2: 100}, 1, credit)]
    assert picks.count(2) == 5


@given(
    weights=st.dictionaries(st.integers(1, 6), st.integers(1, 9), min_size=1, max_size=5),
    rounds=st.integers(1, 40),
)
def test_long_runs_match_the_weights_within_one_pick(weights: dict[int, int], rounds: int) -> None:
    credit: dict[int, float] = {}
    total = sum(weights.values())
    got = dict.fromkeys(weights, 0)
    for _ in range(rounds):
        for c, n in allocate(weights, dict.fromkeys(weights, 10_000), total, credit).items():
            got[c] += n
    for c, w in weights.items():
        assert abs(got[c] - w * rounds) <= 1
