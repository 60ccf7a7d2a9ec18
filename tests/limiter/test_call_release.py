"""Early release by conversation id: a placed call's leases, freed once on news of its end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from orchestrator import keys
from orchestrator.limiter.slots import Scope, SlotLimiter

NOW = 1_000.0
LEASE = 600.0
CONV = "conv_early_1"
MEMBER = 7

ACCOUNT = Scope(keys.SCOPE_ACCOUNT, "acct", 1)
CAMPAIGN = Scope(keys.SCOPE_CAMPAIGN, 3, 5)
NUMBER = Scope(keys.SCOPE_NUMBER, "+14155550123", 2)
SCOPES = [ACCOUNT, CAMPAIGN, NUMBER]


@pytest.fixture
def limiter(fake_redis: Any) -> SlotLimiter:
    return SlotLimiter(fake_redis)


@pytest.fixture
async def freed(fake_redis: Any) -> AsyncIterator[Any]:
    """A subscription to the channel waiting dials listen on."""
    pubsub = fake_redis.pubsub()
    await pubsub.subscribe(keys.SLOTS_FREED_CHANNEL)
    confirmation = await pubsub.get_message(timeout=1.0)
    assert confirmation is not None and confirmation["type"] == "subscribe"
    yield pubsub
    await pubsub.aclose()


async def published(pubsub: Any) -> list[bytes]:
    """Every message published on the channel so far."""
    messages: list[bytes] = []
    while True:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is None:
            return messages
        assert message["channel"] == keys.SLOTS_FREED_CHANNEL.encode()
        messages.append(message["data"])


async def place(limiter: SlotLimiter) -> None:
    """Another call at the plan's limit, then ours as a burst call, remembered by its id."""
    first = await limiter.acquire(1, ACCOUNT, [CAMPAIGN], account_cap=3, now=NOW, lease_secs=LEASE)
    ours = await limiter.acquire(
        MEMBER, ACCOUNT, [CAMPAIGN, NUMBER], account_cap=3, now=NOW, lease_secs=LEASE
    )
    assert first.ok and not first.is_burst
    assert ours.ok and ours.is_burst
    await limiter.remember_call(CONV, MEMBER, SCOPES, ttl_secs=LEASE)


async def counts(limiter: SlotLimiter) -> list[int]:
    return [await limiter.in_flight(scope, now=NOW) for scope in SCOPES]


async def test_release_call_frees_every_scope_and_the_burst_mark_once(
    limiter: SlotLimiter, fake_redis: Any, freed: Any
) -> None:
    await place(limiter)
    assert await counts(limiter) == [2, 2, 1]
    assert await fake_redis.sismember(keys.burst_marks(), str(MEMBER))

    assert await limiter.release_call(CONV)

    assert await counts(limiter) == [1, 1, 0]
    for scope in SCOPES:
        assert str(MEMBER) not in await limiter.holders(scope, now=NOW)
    assert await limiter.holders(ACCOUNT, now=NOW) == ["1"]  # the other call keeps its lease
    assert not await fake_redis.sismember(keys.burst_marks(), str(MEMBER))
    assert await published(freed) == [str(MEMBER).encode()]
    assert not await fake_redis.exists(keys.call_slots(CONV))

    # News of the end often comes twice: the second changes nothing.
    assert not await limiter.release_call(CONV)
    assert await counts(limiter) == [1, 1, 0]
    assert await published(freed) == []


async def test_release_call_of_an_unknown_conversation_changes_nothing(
    limiter: SlotLimiter, fake_redis: Any, freed: Any
) -> None:
    await place(limiter)
    assert not await limiter.release_call("conv_never_placed")
    assert await counts(limiter) == [2, 2, 1]
    assert await fake_redis.sismember(keys.burst_marks(), str(MEMBER))
    assert await published(freed) == []
    # Ours is still remembered, and still releasable.
    assert await limiter.release_call(CONV)


async def test_release_call_after_the_worker_freed_the_call_reports_nothing_freed(
    limiter: SlotLimiter, freed: Any
) -> None:
    await place(limiter)
    assert await limiter.release(MEMBER, SCOPES)
    assert await published(freed) == [str(MEMBER).encode()]
    assert not await limiter.release_call(CONV)
    assert await counts(limiter) == [1, 1, 0]
    assert await published(freed) == []


async def test_the_remembered_call_expires(limiter: SlotLimiter, fake_redis: Any) -> None:
    await limiter.remember_call(CONV, MEMBER, SCOPES, ttl_secs=90.9)
    ttl = await fake_redis.ttl(keys.call_slots(CONV))
    assert 0 < ttl <= 90
    stored = await fake_redis.get(keys.call_slots(CONV))
    assert stored.decode().split("\n") == [str(MEMBER), *(s.key for s in SCOPES)]
    # A TTL under a second still expires (Redis refuses EX 0).
    await limiter.remember_call("conv_short", MEMBER, SCOPES, ttl_secs=0.2)
    assert await fake_redis.ttl(keys.call_slots("conv_short")) == 1


async def test_the_lease_sweep_and_metrics_scan_ignore_remembered_calls(
    limiter: SlotLimiter, fake_redis: Any
) -> None:
    """A remembered call is not a scope: sweeping expired leases must not trip over it."""
    await place(limiter)
    # Every lease has expired by then: the sweep drops them all, and the note is left alone.
    removed = await limiter.sweep(now=NOW + LEASE + 1)
    assert removed == 5  # the first call held two scopes, ours three
    assert await fake_redis.exists(keys.call_slots(CONV)) == 1
    assert await limiter.in_flight(ACCOUNT, now=NOW) == 0
