"""Fair shares of dispatch capacity across campaigns, by weight.

Smooth weighted round robin (as in nginx): each pick, every campaign that still has due attempts
gains its weight; the one with the most credit is picked and pays the total weight of the
contenders. Over any run of picks each campaign gets its weight's share, interleaved rather than
in blocks, and the credit carries over between dispatch passes (kept in Redis), so even passes of
one pick each are fair. A campaign with nothing due leaves the rotation and comes back with no
credit, so idling never builds up a claim on capacity.
"""

from __future__ import annotations

from collections.abc import Mapping


def allocate(
    weights: Mapping[int, int],
    due: Mapping[int, int],
    room: int,
    credit: dict[int, float],
) -> dict[int, int]:
    """Split `room` picks among campaigns with due attempts.

    Args:
        weights: campaign id → weight (≥ 1).
        due: campaign id → attempts due (a campaign never gets more than it has).
        room: how many attempts may be dispatched now.
        credit: campaign id → carried credit; updated in place (entries of campaigns with
            nothing due are dropped).

    Returns:
        Campaign id → how many of its attempts to dispatch.
    """
    for campaign_id in list(credit):
        if due.get(campaign_id, 0) <= 0:
            del credit[campaign_id]
    taken: dict[int, int] = {c: 0 for c, n in due.items() if n > 0}
    for _ in range(max(0, room)):
        contenders = [c for c in taken if taken[c] < due[c]]
        if not contenders:
            break
        total = sum(max(1, weights.get(c, 1)) for c in contenders)
        for c in contenders:
            credit[c] = credit.get(c, 0.0) + max(1, weights.get(c, 1))
        # Ties go to the lower id so the order is deterministic.
        pick = max(contenders, key=lambda c: (credit[c], -c))
        credit[pick] -= total
        taken[pick] += 1
    return {c: n for c, n in taken.items() if n > 0}
