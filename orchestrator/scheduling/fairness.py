"""Fair shares of dispatch capacity across campaigns, by weight, inside the limits they share.

Smooth weighted round robin (as in nginx): each pick, every campaign that can still take one gains
its weight; the one with the most credit is picked and pays the total weight of the contenders.
Over any run of picks each campaign gets its weight's share, interleaved rather than in blocks,
and the credit carries over between dispatch passes (kept in Redis), so even passes of one pick
each are fair.

A campaign can take a pick while it has attempts due and room in every `Pool` it belongs to: its
own `max_concurrency`, its agent's limit (shared with the agent's other campaigns). One whose pool
is full stops contending, so the picks it cannot use go to the others instead of waiting behind
it. A campaign that cannot take any pick (nothing due, or a full pool) leaves the rotation and
comes back with no credit, so neither idling nor sitting at its own limit builds up a claim on
capacity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Pool:
    """A limit some campaigns share: how many more picks its `members` may take between them."""

    room: int
    members: frozenset[int]


def allocate(
    weights: Mapping[int, int],
    due: Mapping[int, int],
    room: int,
    credit: dict[int, float],
    pools: Sequence[Pool] = (),
) -> dict[int, int]:
    """Split `room` picks among campaigns with due attempts, within their pools.

    Args:
        weights: campaign id → weight (≥ 1).
        due: campaign id → attempts due (a campaign never gets more than it has).
        room: how many attempts may be dispatched now, in all.
        credit: campaign id → carried credit; updated in place (entries of campaigns that can
            take nothing are dropped).
        pools: limits shared by some campaigns; a campaign takes a pick only while every pool
            it is a member of has room left, and each pick uses one of each.

    Returns:
        Campaign id → how many of its attempts to dispatch.
    """
    left = [pool.room for pool in pools]
    member_of = {c: [i for i, pool in enumerate(pools) if c in pool.members] for c in due}
    taken: dict[int, int] = {c: 0 for c, n in due.items() if n > 0}

    def can_take(c: int) -> bool:
        return taken[c] < due[c] and all(left[i] > 0 for i in member_of[c])

    for campaign_id in list(credit):
        if campaign_id not in taken or not can_take(campaign_id):
            del credit[campaign_id]
    for _ in range(max(0, room)):
        contenders = [c for c in taken if can_take(c)]
        if not contenders:
            break
        total = sum(max(1, weights.get(c, 1)) for c in contenders)
        for c in contenders:
            credit[c] = credit.get(c, 0.0) + max(1, weights.get(c, 1))
        # Ties go to the lower id so the order is deterministic.
        pick = max(contenders, key=lambda c: (credit[c], -c))
        credit[pick] -= total
        taken[pick] += 1
        for i in member_of[pick]:
            left[i] -= 1
    return {c: n for c, n in taken.items() if n > 0}
