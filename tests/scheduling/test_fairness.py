"""Smooth weighted round robin: shares by weight, interleaved, carried between passes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.scheduling.fairness import Pool, allocate


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


def test_a_campaign_at_its_own_limit_leaves_its_picks_to_the_others() -> None:
    # Campaign 1 may take two more (its own max_concurrency), 2 has no limit of its own.
    share = allocate({1: 5, 2: 1}, {1: 100, 2: 100}, 10, {}, [Pool(2, frozenset({1}))])
    assert share == {1: 2, 2: 8}


def test_a_full_campaign_neither_gets_picks_nor_keeps_credit() -> None:
    credit = {1: 3.0, 2: -3.0}
    share = allocate({1: 1, 2: 1}, {1: 100, 2: 100}, 4, credit, [Pool(0, frozenset({1}))])
    assert share == {2: 4}
    assert 1 not in credit


def test_an_agents_limit_is_shared_by_its_campaigns() -> None:
    agent = Pool(3, frozenset({1, 2}))
    share = allocate({1: 1, 2: 1, 3: 1}, {1: 50, 2: 50, 3: 50}, 9, {}, [agent])
    assert share[1] + share[2] == 3
    assert share[3] == 6


@given(
    weights=st.dictionaries(st.integers(1, 6), st.integers(1, 9), min_size=1, max_size=5),
    due=st.dictionaries(st.integers(1, 6), st.integers(0, 30), max_size=6),
    room=st.integers(-2, 60),
    pools=st.lists(
        st.tuples(st.integers(-3, 20), st.frozensets(st.integers(1, 6), max_size=4)), max_size=4
    ),
)
def test_picks_stay_within_every_limit_and_leave_no_usable_room(
    weights: dict[int, int], due: dict[int, int], room: int, pools: list[tuple[int, frozenset[int]]]
) -> None:
    limits = [Pool(r, m) for r, m in pools]
    share = allocate(weights, due, room, {}, limits)
    assert sum(share.values()) <= max(0, room)
    for c, n in share.items():
        assert 0 < n <= due[c]
    for pool in limits:
        assert sum(share.get(c, 0) for c in pool.members) <= max(0, pool.room)
    if sum(share.values()) < room:
        # Work-conserving: nobody could have taken one more within its limits.
        for c, n in due.items():
            blocked = n <= share.get(c, 0) or any(
                c in p.members and sum(share.get(m, 0) for m in p.members) >= p.room for p in limits
            )
            assert blocked
