"""Holding the leases of a confirmed live call, sweeping expired ones, waking waiters in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator import keys
from orchestrator.limiter.slots import Scope, SlotLimiter
from orchestrator.limiter.waiter import SlotWaiter

NOW = 1_000.0


@pytest.fixture(params=["fake_redis", "real_redis"])
def redis(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def scopes() -> list[Scope]:
    return [Scope(keys.SCOPE_ACCOUNT, "main", 2), Scope(keys.SCOPE_NUMBER, "+12127360001", 1)]


async def test_hold_renews_a_held_lease(redis: Any) -> None:
    limiter = SlotLimiter(redis)
    acct, num = scopes()
    assert (await limiter.acquire(1, acct, [num], account_cap=2, now=NOW, lease_secs=10)).ok
    await limiter.hold(1, [acct, num], now=NOW + 5, lease_secs=10)
    # The first lease would have ended at NOW + 10; held, it lasts until NOW + 15.
    assert await limiter.holders(acct, now=NOW + 12) == ["1"]


async def test_hold_retakes_a_lost_lease_even_over_the_limit(redis: Any) -> None:
    limiter = SlotLimiter(redis)
    acct, num = scopes()
    for member in (1, 2):
        other = Scope(keys.SCOPE_NUMBER, f"+1212736000{member + 1}", 1)
        assert (
            await limiter.acquire(member, acct, [other], account_cap=2, now=NOW, lease_secs=60)
        ).ok
    # Attempt 3's call is live at the provider though its lease is gone: it must count.
    await limiter.hold(3, [acct, num], now=NOW, lease_secs=60)
    assert sorted(await limiter.holders(acct, now=NOW)) == ["1", "2", "3"]
    assert not (await limiter.acquire(4, acct, [], account_cap=2, now=NOW, lease_secs=60)).ok


async def test_sweep_drops_expired_leases_in_every_scope(redis: Any) -> None:
    limiter = SlotLimiter(redis)
    acct, num = scopes()
    await limiter.acquire(1, acct, [num], account_cap=2, now=NOW, lease_secs=10)
    await limiter.acquire(2, acct, [], account_cap=2, now=NOW, lease_secs=100)
    assert await limiter.sweep(now=NOW + 50) == 2  # member 1 in two scopes
    assert await redis.zrange(num.key, 0, -1) == []
    assert await limiter.holders(acct, now=NOW + 50) == ["2"]


async def test_waiters_are_woken_in_arrival_order_a_few_at_a_time(fake_redis: Any) -> None:
    waiter = SlotWaiter(fake_redis)
    woken: list[int] = []

    async def wait(i: int) -> None:
        if await waiter.wait(5):
            woken.append(i)

    tasks = [asyncio.create_task(wait(i)) for i in range(5)]
    await asyncio.sleep(0)
    assert waiter.waiting == 5
    assert waiter.notify(2) == 2
    await asyncio.sleep(0.01)
    assert woken == [0, 1]
    waiter.pass_on()
    await asyncio.sleep(0.01)
    assert woken == [0, 1, 2]
    waiter.notify_all()
    await asyncio.gather(*tasks)
    assert woken == [0, 1, 2, 3, 4]


async def test_a_wait_times_out_and_leaves_the_line(fake_redis: Any) -> None:
    waiter = SlotWaiter(fake_redis)
    assert not await waiter.wait(0.01)
    assert waiter.waiting == 0
    assert waiter.notify() == 0


async def test_a_release_published_in_redis_wakes_a_waiter(real_redis: Any) -> None:
    limiter, waiter = SlotLimiter(real_redis), SlotWaiter(real_redis)
    acct, num = scopes()
    await limiter.acquire(1, acct, [num], account_cap=2, now=NOW, lease_secs=60)
    await waiter.start()
    try:
        await asyncio.sleep(0.1)  # let the subscription start
        waiting = asyncio.create_task(waiter.wait(5))
        await asyncio.sleep(0.01)
        assert await limiter.release(1, [acct, num])
        assert await waiting
    finally:
        await waiter.stop()
