"""Resources of the web process, created in the lifespan; routes reach them via `web/deps.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from orchestrator.deps import Deps
from orchestrator.limiter.slots import SlotLimiter
from orchestrator.metrics import SharedCollector
from orchestrator.recordings.store import Storage
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.tracking.event_writer import EventWriter


class WebMetrics:
    """Prometheus metrics of one web app (own registry, so apps in one process don't clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.shared = SharedCollector()
        self.registry.register(self.shared)
        self.webhooks = Counter(
            "orchestrator_webhooks_accepted_total",
            "Verified webhooks stored and enqueued, by event type.",
            ["event_type"],
            registry=self.registry,
        )
        self.webhook_seconds = Histogram(
            "orchestrator_webhook_seconds",
            "Time to verify, store and enqueue one post-call webhook.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )


@dataclass
class AppState:
    """What every request handler may use: the process's `Deps`, and what only the web needs."""

    deps: Deps
    metrics: WebMetrics
    storage: Storage
    events: EventWriter

    @property
    def settings(self) -> Settings:
        """The settings (`deps.settings`)."""
        return self.deps.settings

    @property
    def db(self) -> Database:
        """The database (`deps.db`; the web's writes go first, see `store/write_turns.py`)."""
        return self.deps.db

    @property
    def queue(self) -> Any:
        """The arq pool jobs are enqueued with (`deps.queue`)."""
        return self.deps.queue

    @property
    def slots(self) -> SlotLimiter:
        """Frees a call's slots on news of its end (see `tracking/ingest.py`)."""
        return self.deps.limiter
