"""The shared token bucket on call starts, against fakeredis and a real redis-server.

Time is passed in as `now`: nothing here sleeps.
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator import keys
from orchestrator.limiter.pacing import TokenBucket

NOW = 10_000.0


@pytest.fixture(params=["fake_redis", "real_redis"])
def redis(request: pytest.FixtureRequest) -> Any:
    """The same tests on fakeredis (Lua) and on the real server."""
    return request.getfixturevalue(request.param)


def bucket(redis: Any, *, rate: float = 5.0, capacity: float = 1.0, name: str = "t") -> TokenBucket:
    return TokenBucket(redis, keys.pacing_bucket(name), rate=rate, capacity=capacity)


async def test_first_take_is_free_then_wait_one_interval(redis: Any) -> None:
    pacer = bucket(redis)
    assert await pacer.take(NOW) == 0.0
    assert await pacer.take(NOW) == pytest.approx(0.2)


async def test_a_refused_take_consumes_nothing(redis: Any) -> None:
    pacer = bucket(redis)
    await pacer.take(NOW)
    assert await pacer.take(NOW) == pytest.approx(0.2)
    assert await pacer.take(NOW) == pytest.approx(0.2)


async def test_tokens_refill_with_time(redis: Any) -> None:
    pacer = bucket(redis)
    assert await pacer.take(NOW) == 0.0
    assert await pacer.take(NOW + 0.1) == pytest.approx(0.1)  # half a token so far
    assert await pacer.take(NOW + 0.25) == 0.0  # a full token has come back
    assert await pacer.take(NOW + 0.25) == pytest.approx(0.2)


async def test_capacity_bounds_the_burst_after_a_long_idle(redis: Any) -> None:
    pacer = bucket(redis, rate=2.0, capacity=3.0)
    later = NOW + 3_600  # an hour idle refills no more than the capacity
    assert [await pacer.take(later) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert await pacer.take(later) == pytest.approx(0.5)


async def test_rate_sets_the_average_pace(redis: Any) -> None:
    pacer = bucket(redis, rate=4.0, capacity=1.0)
    # asking every 0.125 s (twice the rate) for 5 simulated seconds: every other ask is granted
    granted = [await pacer.take(NOW + step * 0.125) == 0.0 for step in range(40)]
    assert granted == [step % 2 == 0 for step in range(40)]


async def test_a_clock_behind_the_stored_one_does_not_refill(redis: Any) -> None:
    pacer = bucket(redis)
    assert await pacer.take(NOW) == 0.0
    assert await pacer.take(NOW - 100) == pytest.approx(0.2)


async def test_capacity_below_one_is_raised_to_one(redis: Any) -> None:
    pacer = bucket(redis, capacity=0.0)
    assert await pacer.take(NOW) == 0.0


async def test_buckets_are_independent_and_shared_by_key(redis: Any) -> None:
    a, b = bucket(redis, name="a"), bucket(redis, name="b")
    other_worker_a = bucket(redis, name="a")
    assert await a.take(NOW) == 0.0
    assert await b.take(NOW) == 0.0
    assert await other_worker_a.take(NOW) == pytest.approx(0.2)


async def test_the_bucket_key_expires(redis: Any) -> None:
    pacer = bucket(redis, rate=5.0, capacity=1.0, name="ttl")
    await pacer.take(NOW)
    ttl = await redis.ttl(keys.pacing_bucket("ttl"))
    assert 0 < ttl <= 61
