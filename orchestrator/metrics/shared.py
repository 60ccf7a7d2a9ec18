"""Prometheus metrics that stay right with many worker processes.

Workers count events (dials, refusals, 429s) in Redis hashes, so any number of them add up; the
web process exposes those counters plus gauges read at scrape time from the shared state: calls
in flight per scope from the limiter, the reconciliation backlog and the webhook processing lag
from the database. Nothing is kept per process that a restart would lose or a scrape would miss.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from sqlalchemy import func
from sqlmodel import col, select

from orchestrator import keys
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, WebhookEvent

COUNTERS = f"{keys.PREFIX}:metrics:counters"


async def count(redis: Redis, name: str, amount: int = 1) -> None:
    """Add to a cluster-wide counter (e.g. `dials_total`, `provider_429_total`)."""
    await redis.hincrby(COUNTERS, name, amount)  # type: ignore[misc]


class Snapshot:
    """Values gathered asynchronously just before a scrape, served by `SharedCollector`."""

    def __init__(self) -> None:
        self.counters: dict[str, float] = {}
        self.in_flight: dict[str, float] = {}
        self.burst_in_flight = 0.0
        self.account_limit = 0.0
        self.states: dict[str, float] = {}
        self.backlog = 0.0
        self.webhook_lag = 0.0
        self.unprocessed = 0.0
        self.unmatched = 0.0
        self.parked_attempts = 0.0
        self.parked_events = 0.0


async def gather(redis: Redis, db: Database, account_limit: int) -> Snapshot:
    """Read counters and gauges from Redis and the database."""
    snap = Snapshot()
    now = time.time()
    raw: dict[Any, Any] = await redis.hgetall(COUNTERS)  # type: ignore[misc]
    snap.counters = {_text(k): float(v) for k, v in raw.items()}
    async for key in redis.scan_iter(match=keys.slots("*", "*"), count=500):
        name = _text(key)
        kind = name.split(":")[2]
        live = await redis.zcount(name, f"({now}", "+inf")
        snap.in_flight[kind] = snap.in_flight.get(kind, 0.0) + live
    snap.burst_in_flight = float(await redis.scard(keys.burst_marks()))  # type: ignore[misc]
    snap.account_limit = float(account_limit)
    async with db.read() as s:
        for state, n in (
            await s.exec(
                select(Attempt.state, func.count())
                .where(
                    col(Attempt.state).in_(
                        [
                            "scheduled",
                            "queued",
                            "dialing",
                            "unknown",
                            "initiated",
                            "in_progress",
                            "parked",
                        ]
                    )
                )
                .group_by(col(Attempt.state))
            )
        ).all():
            snap.states[state] = float(n)
        oldest, pending = (
            await s.exec(
                select(func.min(WebhookEvent.received_at), func.count()).where(
                    col(WebhookEvent.status) == "received"
                )
            )
        ).one()
        events: dict[str, int] = {
            status: int(n)
            for status, n in (
                await s.exec(
                    select(WebhookEvent.status, func.count())
                    .where(col(WebhookEvent.status).in_(["unmatched", "parked"]))
                    .group_by(col(WebhookEvent.status))
                )
            ).all()
        }
    snap.unmatched = float(events.get("unmatched", 0))
    snap.parked_events = float(events.get("parked", 0))
    snap.parked_attempts = snap.states.get("parked", 0.0)
    snap.backlog = snap.states.get("unknown", 0.0) + snap.states.get("dialing", 0.0)
    snap.unprocessed = float(pending)
    if oldest is not None:
        snap.webhook_lag = max(0.0, now - oldest.timestamp())
    return snap


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SharedCollector(Collector):
    """Exposes the latest `Snapshot` (the /metrics route refreshes it before rendering)."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def collect(self) -> Iterable[Metric]:
        """Prometheus families of the current snapshot."""
        snap = self.snapshot
        counters = CounterMetricFamily(
            "orchestrator_events", "Cluster-wide counts kept by the workers.", labels=["event"]
        )
        for name, value in sorted(snap.counters.items()):
            counters.add_metric([name.removesuffix("_total")], value)
        yield counters
        in_flight = GaugeMetricFamily(
            "orchestrator_calls_in_flight", "Live slot leases by scope kind.", labels=["scope"]
        )
        for kind, value in sorted(snap.in_flight.items()):
            in_flight.add_metric([kind], value)
        yield in_flight
        yield GaugeMetricFamily(
            "orchestrator_burst_calls_in_flight",
            "Calls holding a burst slot (above the plan's limit, billed 2x).",
            value=snap.burst_in_flight,
        )
        utilization = snap.in_flight.get(keys.SCOPE_ACCOUNT, 0.0) / (snap.account_limit or 1.0)
        yield GaugeMetricFamily(
            "orchestrator_slot_utilization",
            "Account calls in flight divided by the plan's limit (above 1 while bursting).",
            value=utilization,
        )
        states = GaugeMetricFamily(
            "orchestrator_attempts", "Attempts not yet final, by state.", labels=["state"]
        )
        for state, value in sorted(snap.states.items()):
            states.add_metric([state], value)
        yield states
        yield GaugeMetricFamily(
            "orchestrator_reconciliation_backlog",
            "Attempts whose dial fate is unknown (unknown, or dialing past its answer).",
            value=snap.backlog,
        )
        yield GaugeMetricFamily(
            "orchestrator_webhook_lag_seconds",
            "Age of the oldest stored webhook not yet processed.",
            value=snap.webhook_lag,
        )
        yield GaugeMetricFamily(
            "orchestrator_webhooks_unprocessed",
            "Stored webhooks waiting for the worker.",
            value=snap.unprocessed,
        )
        yield GaugeMetricFamily(
            "orchestrator_webhooks_unmatched",
            "Stored webhooks for conversations no attempt has (yet): see "
            "`orchestrator unmatched-events`.",
            value=snap.unmatched,
        )
        parked = GaugeMetricFamily(
            "orchestrator_parked",
            "Records taken out of their loop after failing the same way again and again, "
            "waiting for someone to fix and re-queue them: see `orchestrator parked`.",
            labels=["kind"],
        )
        parked.add_metric(["attempt"], snap.parked_attempts)
        parked.add_metric(["webhook_event"], snap.parked_events)
        yield parked
