"""Enqueue many arq jobs in one round trip, with arq's own job format and dedup rule.

`ArqRedis.enqueue_job` costs a WATCH/MULTI transaction per job; a webhook burst of hundreds of
events a second pays that hundreds of times. This Lua script applies arq's rule — skip a job id
that is queued, running or has a kept result — to a whole batch atomically, and writes the job
exactly as arq does (its serializer, key prefixes and expiry), so arq workers run it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from arq.constants import expires_extra_ms, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.asyncio import Redis

# KEYS: queue, then (job key, result key) per job. ARGV: score, expiry ms, then (id, payload).
_ENQUEUE_MANY = """
local added = {}
local n = (#KEYS - 1) / 2
for i = 1, n do
  local job_key = KEYS[2 * i]
  local result_key = KEYS[2 * i + 1]
  if redis.call('EXISTS', job_key, result_key) == 0 then
    redis.call('PSETEX', job_key, ARGV[2], ARGV[2 + 2 * i])
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1 + 2 * i])
    added[i] = 1
  else
    added[i] = 0
  end
end
return added
"""


@dataclass(frozen=True)
class JobSpec:
    """One job to enqueue: arq function name, positional args, job id."""

    function: str
    args: tuple[Any, ...]
    job_id: str


class BatchEnqueuer:
    """Enqueue batches of jobs with one script call."""

    def __init__(self, redis: Redis, queue_name: str) -> None:
        self._queue_name = queue_name
        self._script = redis.register_script(_ENQUEUE_MANY)

    async def enqueue(self, jobs: Sequence[JobSpec]) -> list[bool]:
        """Enqueue `jobs` now; True for each job that was added (False: already there)."""
        if not jobs:
            return []
        now = timestamp_ms()
        keys: list[str] = [self._queue_name]
        args: list[Any] = [now, expires_extra_ms]
        for job in jobs:
            keys += [job_key_prefix + job.job_id, result_key_prefix + job.job_id]
            args += [job.job_id, serialize_job(job.function, job.args, {}, None, now)]
        added: Any = await self._script(keys=keys, args=args)
        return [bool(int(flag)) for flag in added]
