"""Concurrency slots, run against fakeredis and a real redis-server alike."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator import keys
from orchestrator.limiter.slots import Scope, SlotLimiter

LEASE = 60.0
NOW = 1_000.0


@pytest.fixture(params=["fake_redis", "real_redis"])
def redis(request: pytest.FixtureRequest) -> Any:
    """The same tests on fakeredis (Lua) and on the real server."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def limiter(redis: Any) -> SlotLimiter:
    return SlotLimiter(redis)


def account(limit: int = 5) -> Scope:
    return Scope(keys.SCOPE_ACCOUNT, "acct", limit)


def number(limit: int = 1, ident: str = "+14155550123") -> Scope:
    return Scope(keys.SCOPE_NUMBER, ident, limit)


async def take(
    limiter: SlotLimiter,
    member: int,
    acct: Scope,
    others: list[Scope] | None = None,
    *,
    cap: int | None = None,
    now: float = NOW,
    lease: float = LEASE,
) -> Any:
    return await limiter.acquire(
        member,
        acct,
        others or [],
        account_cap=acct.limit if cap is None else cap,
        now=now,
        lease_secs=lease,
    )


async def test_acquire_takes_a_lease_in_every_scope(limiter: SlotLimiter) -> None:
    acct, num = account(), number()
    campaign = Scope(keys.SCOPE_CAMPAIGN, 7, 3)
    got = await take(limiter, 1, acct, [campaign, num])
    assert got.ok and not got.is_burst and got.full_scope is None
    for scope in (acct, campaign, num):
        assert await limiter.holders(scope, now=NOW) == ["1"]


async def test_a_full_number_scope_leaves_the_account_untouched(limiter: SlotLimiter) -> None:
    acct, num = account(limit=5), number(limit=1)
    assert (await take(limiter, 1, acct, [num])).ok
    refused = await take(limiter, 2, acct, [Scope(keys.SCOPE_AGENT, "a", 9), num])
    assert not refused.ok
    assert refused.full_scope == keys.SCOPE_NUMBER
    assert await limiter.holders(acct, now=NOW) == ["1"]
    assert await limiter.in_flight(Scope(keys.SCOPE_AGENT, "a", 9), now=NOW) == 0
    # another number is free, so the same member gets through there
    assert (await take(limiter, 2, acct, [number(ident="+14155550199")])).ok


async def test_a_full_account_is_reported_as_such(limiter: SlotLimiter) -> None:
    acct = account(limit=1)
    assert (await take(limiter, 1, acct)).ok
    refused = await take(limiter, 2, acct, [number()])
    assert (refused.ok, refused.full_scope) == (False, keys.SCOPE_ACCOUNT)
    assert await limiter.in_flight(number(), now=NOW) == 0


async def test_account_limit_is_exact_under_concurrency(limiter: SlotLimiter) -> None:
    acct = account(limit=7)
    results = await asyncio.gather(*(take(limiter, m, acct) for m in range(100)))
    assert sum(r.ok for r in results) == 7
    assert all(r.full_scope == keys.SCOPE_ACCOUNT for r in results if not r.ok)
    assert await limiter.in_flight(acct, now=NOW) == 7


async def test_burst_leases_above_the_plan_limit_up_to_the_cap(
    limiter: SlotLimiter, redis: Any
) -> None:
    acct = account(limit=2)
    results = [await take(limiter, m, acct, cap=6) for m in range(1, 8)]
    assert [r.ok for r in results] == [True] * 6 + [False]
    assert [r.is_burst for r in results[:6]] == [False, False, True, True, True, True]
    assert results[6].full_scope == keys.SCOPE_ACCOUNT
    marks = {m.decode() for m in await redis.smembers(keys.burst_marks())}
    assert marks == {"3", "4", "5", "6"}


async def test_a_cap_below_the_limit_does_not_shrink_the_limit(limiter: SlotLimiter) -> None:
    acct = account(limit=3)
    results = [await take(limiter, m, acct, cap=1) for m in range(4)]
    assert [r.ok for r in results] == [True, True, True, False]
    assert not any(r.is_burst for r in results)


async def test_reacquire_is_idempotent_and_keeps_the_burst_mark(limiter: SlotLimiter) -> None:
    acct = account(limit=1)
    assert not (await take(limiter, 1, acct, cap=2)).is_burst
    assert (await take(limiter, 2, acct, cap=2)).is_burst
    # the account is now at its cap, yet both holders can re-acquire
    again_1 = await take(limiter, 1, acct, cap=2, now=NOW + 5)
    again_2 = await take(limiter, 2, acct, cap=2, now=NOW + 5)
    assert (again_1.ok, again_1.is_burst) == (True, False)
    assert (again_2.ok, again_2.is_burst) == (True, True)
    assert await limiter.in_flight(acct, now=NOW) == 2
    assert not (await take(limiter, 3, acct, cap=2)).ok


async def test_reacquire_extends_the_lease(limiter: SlotLimiter) -> None:
    acct = account()
    await take(limiter, 1, acct, now=NOW, lease=10)
    await take(limiter, 1, acct, now=NOW + 5, lease=10)
    assert await limiter.holders(acct, now=NOW + 12) == ["1"]


async def test_a_fresh_lease_after_expiry_drops_a_stale_burst_mark(limiter: SlotLimiter) -> None:
    acct = account(limit=1)
    await take(limiter, 1, acct, cap=2, lease=100)
    assert (await take(limiter, 2, acct, cap=2, lease=10)).is_burst
    await limiter.release(1, [acct])
    later = NOW + 20  # member 2's lease has expired; the account is empty
    fresh = await take(limiter, 2, acct, cap=2, now=later)
    assert (fresh.ok, fresh.is_burst) == (True, False)
    again = await take(limiter, 2, acct, cap=2, now=later + 1)
    assert (again.ok, again.is_burst) == (True, False)


async def test_release_frees_the_slot_and_the_burst_mark(limiter: SlotLimiter, redis: Any) -> None:
    acct, num = account(limit=1), number()
    await take(limiter, 1, acct, [num], cap=2)
    assert (await take(limiter, 2, acct, cap=2)).is_burst
    assert await limiter.release(2, [acct])
    assert not await redis.sismember(keys.burst_marks(), "2")
    assert await limiter.release(1, [acct, num])
    assert await limiter.in_flight(acct, now=NOW) == 0
    assert await limiter.in_flight(num, now=NOW) == 0
    assert not await limiter.release(1, [acct, num])  # nothing held any more
    assert (await take(limiter, 3, acct, [num])).ok


async def test_expired_leases_do_not_count(limiter: SlotLimiter) -> None:
    acct = account(limit=1)
    await take(limiter, 1, acct, now=NOW, lease=10)
    assert await limiter.in_flight(acct, now=NOW + 9) == 1
    assert await limiter.in_flight(acct, now=NOW + 10) == 0
    assert await limiter.holders(acct, now=NOW + 11) == []
    assert await limiter.expired(acct, now=NOW + 11) == ["1"]
    assert not (await take(limiter, 2, acct, now=NOW + 9)).ok
    assert (await take(limiter, 2, acct, now=NOW + 11)).ok
    # the expired lease was swept by the acquisition
    assert await limiter.expired(acct, now=NOW + 11) == []
    assert await limiter.holders(acct, now=NOW + 11) == ["2"]


async def test_renew_pushes_the_deadline_of_held_leases(limiter: SlotLimiter) -> None:
    acct, num = account(), number()
    await take(limiter, 1, acct, [num], now=NOW, lease=10)
    assert await limiter.renew(1, [acct, num], now=NOW + 8, lease_secs=10)
    assert await limiter.holders(acct, now=NOW + 15) == ["1"]
    assert await limiter.in_flight(num, now=NOW + 15) == 1
    assert await limiter.expired(acct, now=NOW + 15) == []


async def test_renew_does_not_create_leases(limiter: SlotLimiter) -> None:
    acct = account()
    assert not await limiter.renew(9, [acct], now=NOW, lease_secs=10)
    assert await limiter.in_flight(acct, now=NOW) == 0


async def test_holders_and_expired_split_by_deadline(limiter: SlotLimiter) -> None:
    acct = account()
    await take(limiter, 1, acct, now=NOW, lease=5)
    await take(limiter, 2, acct, now=NOW, lease=50)
    await take(limiter, 3, acct, now=NOW, lease=500)
    assert sorted(await limiter.holders(acct, now=NOW + 10)) == ["2", "3"]
    assert await limiter.expired(acct, now=NOW + 10) == ["1"]
    assert await limiter.in_flight(acct, now=NOW + 100) == 1


async def test_release_publishes_on_the_freed_channel(real_redis: Any) -> None:
    limiter = SlotLimiter(real_redis)
    acct = account()
    await take(limiter, 42, acct)
    pubsub = real_redis.pubsub()
    try:
        await pubsub.subscribe(keys.SLOTS_FREED_CHANNEL)
        confirmation = await pubsub.get_message(timeout=2.0)
        assert confirmation is not None and confirmation["type"] == "subscribe"
        assert not await limiter.release(7, [acct])  # nothing held: no message
        assert await limiter.release(42, [acct])
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2.0)
        assert message is not None
        assert message["channel"] == keys.SLOTS_FREED_CHANNEL.encode()
        assert message["data"] == b"42"
    finally:
        await pubsub.aclose()


async def test_renew_to_the_same_deadline_still_reports_a_held_lease(limiter: SlotLimiter) -> None:
    acct = account()
    await take(limiter, 1, acct, now=NOW, lease=10)
    assert await limiter.renew(1, [acct], now=NOW, lease_secs=10)


async def test_occupancy_and_holders_of_many_scopes_count_only_live_leases(
    limiter: SlotLimiter,
) -> None:
    acct, campaign = account(), Scope(keys.SCOPE_CAMPAIGN, 7, 3)
    first, second = number(ident="+14155550101"), number(ident="+14155550102")
    assert (await take(limiter, 1, acct, [campaign, first], lease=10)).ok
    assert (await take(limiter, 2, acct, [campaign, second], lease=100)).ok
    empty = Scope(keys.SCOPE_AGENT, "nobody", 2)
    later = NOW + 50  # the first lease has lapsed
    assert await limiter.occupancy([acct, campaign, empty], now=NOW) == [2, 2, 0]
    assert await limiter.occupancy([acct, campaign, empty], now=later) == [1, 1, 0]
    assert await limiter.holders_of([first, second], now=later) == [set(), {"2"}]
    assert await limiter.occupancy([], now=NOW) == []
    assert await limiter.holders_of([], now=NOW) == []
