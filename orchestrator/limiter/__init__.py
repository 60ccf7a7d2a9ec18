"""Concurrency, burst and pacing: slots in Redis that no process can oversubscribe.

- `slots`   leases in sorted sets, taken for every scope at once by one Lua script
- `scopes`  which scopes a call takes (account, agent, campaign, phone number) and their limits
- `burst`   when a campaign may spend burst capacity (2× price) and its daily budget
- `pacing`  a token bucket of calls started per second
- `waiter`  dialers waiting for a slot are woken by releases (pub/sub)
"""
