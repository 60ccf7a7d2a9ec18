"""Concurrency slots in Redis, acquired for every scope at once by one Lua script.

Each scope (account, agent, campaign, phone number) is a sorted set whose members are attempt ids
and whose scores are lease deadlines. A lease past its deadline counts as free, so a lost end
event can never leak a slot for longer than the longest possible call plus a margin.

The account scope has two limits: the plan's (`base`) and the one the campaign's burst policy
allows (`cap`, up to min(3 × limit, 300)). A lease taken while the account already holds `base`
or more is a burst lease: it is marked, and billed at 2× by the provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from orchestrator import keys

# KEYS: scope keys (the first is the account), then the burst-marks set.
# ARGV: member, now, deadline, account base limit, then one cap per scope.
# Returns {1, is_burst} on success, {0, index of the first full scope (1-based)} otherwise.
_ACQUIRE = """
local n = #KEYS - 1
local member = ARGV[1]
local now = tonumber(ARGV[2])
local deadline = tonumber(ARGV[3])
local base = tonumber(ARGV[4])
for i = 1, n do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
end
local burst = 0
for i = 1, n do
  if not redis.call('ZSCORE', KEYS[i], member) then
    local count = redis.call('ZCARD', KEYS[i])
    if count >= tonumber(ARGV[4 + i]) then
      return {0, i}
    end
    if i == 1 and count >= base then
      burst = 1
    end
  elseif i == 1 and redis.call('SISMEMBER', KEYS[n + 1], member) == 1 then
    burst = 1
  end
end
for i = 1, n do
  redis.call('ZADD', KEYS[i], deadline, member)
end
if burst == 1 then
  redis.call('SADD', KEYS[n + 1], member)
else
  -- a mark left by an expired burst lease must not outlive it
  redis.call('SREM', KEYS[n + 1], member)
end
return {1, burst}
"""

# KEYS: scope keys, then the burst-marks set. ARGV: member, channel.
_RELEASE = """
local n = #KEYS - 1
local removed = 0
for i = 1, n do
  removed = removed + redis.call('ZREM', KEYS[i], ARGV[1])
end
redis.call('SREM', KEYS[n + 1], ARGV[1])
if removed > 0 then
  redis.call('PUBLISH', ARGV[2], ARGV[1])
end
return removed
"""

# KEYS: scope keys. ARGV: member, deadline. Renews only leases still held.
_RENEW = """
local renewed = 0
for i = 1, #KEYS do
  if redis.call('ZSCORE', KEYS[i], ARGV[1]) then
    redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1])
    renewed = renewed + 1
  end
end
return renewed
"""


# KEYS: scope keys. ARGV: member, deadline. Holds the lease whatever the scope's count: used when
# the provider confirms the call is live, so the slot must count whether or not it was lost.
_HOLD = """
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1])
end
return #KEYS
"""

# KEYS: scope keys. ARGV: now. Drops leases past their deadline; returns how many.
_SWEEP = """
local removed = 0
for i = 1, #KEYS do
  removed = removed + redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[1])
end
return removed
"""


@dataclass(frozen=True)
class Scope:
    """One limit: a Redis key and how many leases it may hold."""

    kind: str
    ident: str | int
    limit: int

    @property
    def key(self) -> str:
        """The sorted set holding this scope's leases."""
        return keys.slots(self.kind, self.ident)


@dataclass(frozen=True)
class Acquired:
    """The result of an acquisition attempt."""

    ok: bool
    is_burst: bool = False
    full_scope: str | None = None


class SlotLimiter:
    """All-or-nothing leases over several scopes."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)
        self._hold = redis.register_script(_HOLD)
        self._sweep = redis.register_script(_SWEEP)

    async def acquire(
        self,
        member: str | int,
        account: Scope,
        others: list[Scope],
        *,
        account_cap: int,
        now: float,
        lease_secs: float,
    ) -> Acquired:
        """Take one lease in `account` (up to `account_cap`) and every scope of `others`.

        Re-acquiring a lease already held renews it and keeps its burst mark.
        """
        scopes = [account, *others]
        caps = [max(account_cap, account.limit), *(s.limit for s in others)]
        result: Any = await self._acquire(
            keys=[*(s.key for s in scopes), keys.burst_marks()],
            args=[str(member), now, now + lease_secs, account.limit, *caps],
        )
        ok, detail = int(result[0]), int(result[1])
        if ok:
            return Acquired(ok=True, is_burst=bool(detail))
        return Acquired(ok=False, full_scope=scopes[detail - 1].kind)

    async def release(self, member: str | int, scopes: list[Scope]) -> bool:
        """Free the member's leases in `scopes`; True when something was held."""
        removed: Any = await self._release(
            keys=[*(s.key for s in scopes), keys.burst_marks()],
            args=[str(member), keys.SLOTS_FREED_CHANNEL],
        )
        return int(removed) > 0

    async def remember_call(
        self, conversation_id: str, member: str | int, scopes: list[Scope], *, ttl_secs: float
    ) -> None:
        """Note which leases a placed call holds, so news of its end can free them at once.

        The web process reads this when a verified end-of-call webhook arrives (see
        `release_call`), before the event is stored and processed by a worker.
        """
        value = "\n".join([str(member), *(s.key for s in scopes)])
        await self._redis.set(keys.call_slots(conversation_id), value, ex=max(1, int(ttl_secs)))

    async def release_call(self, conversation_id: str) -> bool:
        """Free the leases of the call `conversation_id` (noted by `remember_call`), once.

        Returns:
            True when leases were freed; False when the call is unknown or was freed already.
        """
        raw: Any = await self._redis.getdel(keys.call_slots(conversation_id))
        if not raw:
            return False
        member, *scope_keys = (raw.decode() if isinstance(raw, bytes) else str(raw)).split("\n")
        removed: Any = await self._release(
            keys=[*scope_keys, keys.burst_marks()], args=[member, keys.SLOTS_FREED_CHANNEL]
        )
        return int(removed) > 0

    async def renew(
        self, member: str | int, scopes: list[Scope], *, now: float, lease_secs: float
    ) -> bool:
        """Push the deadline of leases still held; False when none was held."""
        renewed: Any = await self._renew(
            keys=[s.key for s in scopes], args=[str(member), now + lease_secs]
        )
        return int(renewed) > 0

    async def hold(
        self, member: str | int, scopes: list[Scope], *, now: float, lease_secs: float
    ) -> None:
        """Hold (or renew) the member's leases in every scope, whatever their counts.

        For a call the provider says is live: it occupies its slots whether or not our lease
        survived (an expired lease, a lost renewal), so the limiter must count it.
        """
        await self._hold(keys=[s.key for s in scopes], args=[str(member), now + lease_secs])

    async def sweep(self, *, now: float, batch: int = 500) -> int:
        """Drop expired leases in every scope (scopes nobody acquires in again keep them)."""
        removed = 0
        found: list[str] = []
        async for key in self._redis.scan_iter(match=keys.slots("*", "*"), count=batch):
            found.append(key.decode() if isinstance(key, bytes) else str(key))
            if len(found) >= batch:
                removed += int(await self._sweep(keys=found, args=[now]))
                found = []
        if found:
            removed += int(await self._sweep(keys=found, args=[now]))
        return removed

    async def in_flight(self, scope: Scope, *, now: float) -> int:
        """Leases in `scope` whose deadline has not passed."""
        return int(await self._redis.zcount(scope.key, f"({now}", "+inf"))

    async def occupancy(self, scopes: Sequence[Scope], *, now: float) -> list[int]:
        """Live leases in each of `scopes`, read in one round trip (no transaction: a snapshot
        a moment old is all a caller planning the next dials needs)."""
        if not scopes:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for scope in scopes:
                pipe.zcount(scope.key, f"({now}", "+inf")
            counts: list[Any] = await pipe.execute()
        return [int(n) for n in counts]

    async def holders_of(self, scopes: Sequence[Scope], *, now: float) -> list[set[str]]:
        """Members holding a live lease in each of `scopes`, read in one round trip."""
        if not scopes:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for scope in scopes:
                pipe.zrangebyscore(scope.key, f"({now}", "+inf")
            found: list[Any] = await pipe.execute()
        return [{m.decode() if isinstance(m, bytes) else str(m) for m in raw} for raw in found]

    async def holders(self, scope: Scope, *, now: float) -> list[str]:
        """Members holding a live lease in `scope`."""
        raw = await self._redis.zrangebyscore(scope.key, f"({now}", "+inf")
        return [m.decode() if isinstance(m, bytes) else str(m) for m in raw]

    async def expired(self, scope: Scope, *, now: float) -> list[str]:
        """Members whose lease in `scope` has passed its deadline (a lost end event)."""
        raw = await self._redis.zrangebyscore(scope.key, "-inf", now)
        return [m.decode() if isinstance(m, bytes) else str(m) for m in raw]
