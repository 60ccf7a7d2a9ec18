"""Inbound calls played against the personalization webhook, as the provider would ring it.

At a steady rate for a duration, each call POSTs the provider's request (the sandbox's `ring`)
and judges the answer by the provider's rules (`judge`: `type` present, primitive variables,
no `system__`) plus ours: every variable the agent declares must be there, or the provider
aborts the conversation. Latency is measured from the moment the request leaves to the answer,
which is what the provider waits for while the phone rings.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from orchestrator.dev.sandbox.inbound import InboundCall, ring


@dataclass
class PlayResult:
    """What the played calls saw."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0  # no answer, a transport failure, or a non-2xx status
    shape_failures: int = 0  # answered 2xx, but the provider would not start the call
    examples: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def calls(self) -> int:
        """Calls played."""
        return len(self.latencies)

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] * 1000


def missing_variables(answer: Any, declared: Collection[str]) -> list[str]:
    """Declared variables absent from an answer's `dynamic_variables`."""
    variables = answer.get("dynamic_variables") if isinstance(answer, dict) else None
    present = variables if isinstance(variables, dict) else {}
    return sorted(name for name in declared if name not in present)


def stranger(rng: random.Random) -> str:
    """A valid US number unlikely to be a contact (555-01xx is reserved for fiction)."""
    return f"+1212555{rng.randint(100, 199):04d}"


async def play(
    url: str,
    *,
    agent_id: str,
    called_number: str,
    callers: Sequence[str],
    declared: Collection[str],
    headers: dict[str, str],
    rate: float,
    duration: float,
    unknown_share: float = 0.1,
    timeout: float = 10.0,
    seed: int = 7,
) -> PlayResult:
    """Ring `url` `rate` times a second for `duration` seconds (open loop: no call waits for
    another's answer); callers are drawn from `callers`, with `unknown_share` strangers."""
    rng = random.Random(seed)
    total = max(1, round(rate * duration))
    result = PlayResult()
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)

    async def one(client: httpx.AsyncClient, caller: str) -> None:
        call = InboundCall(agent_id=agent_id, caller_id=caller, called_number=called_number)
        verdict = await ring(client, url, call, called_number, headers=headers, timeout=timeout)
        result.latencies.append(verdict["latency_secs"])
        problems: list[str] = list(verdict["problems"])
        if verdict["status_code"] is None or not 200 <= verdict["status_code"] < 300:
            result.errors += 1
        else:
            missing = missing_variables(verdict["client_data"], declared) if not problems else []
            problems += [f"dynamic_variables.{name}: missing" for name in missing]
            if problems:
                result.shape_failures += 1
        if problems and len(result.examples) < 5:
            result.examples.append(f"{caller}: {'; '.join(problems)}")

    started = time.perf_counter()
    async with httpx.AsyncClient(limits=limits) as client:
        tasks: list[asyncio.Task[None]] = []
        for index in range(total):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            known = callers and rng.random() >= unknown_share
            caller = rng.choice(callers) if known else stranger(rng)
            tasks.append(asyncio.create_task(one(client, caller)))
        await asyncio.gather(*tasks)
    result.elapsed = time.perf_counter() - started
    return result
