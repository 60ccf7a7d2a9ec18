"""Pacing: a token bucket on calls started per second, shared by every worker through Redis."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

# KEYS: bucket. ARGV: now (s), rate (tokens/s), capacity. Takes one token if it can.
# Returns 0 when taken, else the seconds (as a string) until one will be there.
_TAKE = """
local rate = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local now = tonumber(ARGV[1])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or cap
local ts = tonumber(state[2]) or now
if now > ts then
  tokens = math.min(cap, tokens + (now - ts) * rate)
  ts = now
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', ts)
redis.call('EXPIRE', KEYS[1], math.ceil(cap / rate) + 60)
return tostring(wait)
"""


class TokenBucket:
    """At most `rate` starts per second on average, bursts up to `capacity`."""

    def __init__(self, redis: Redis, key: str, *, rate: float, capacity: float) -> None:
        self._key = key
        self._rate = rate
        self._capacity = max(1.0, capacity)
        self._take = redis.register_script(_TAKE)

    async def take(self, now: float) -> float:
        """Take a token: 0.0 when granted, else how long to wait before asking again."""
        result: Any = await self._take(keys=[self._key], args=[now, self._rate, self._capacity])
        return float(result)
