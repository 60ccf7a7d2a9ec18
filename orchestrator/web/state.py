"""Resources of the web process, created in the lifespan and kept on `app.state.orch`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

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
    """What every request handler may use."""

    settings: Settings
    db: Database
    queue: Any
    metrics: WebMetrics
    storage: Storage
    events: EventWriter
    #: Frees a call's slots on news of its end (see `tracking/ingest.py`); None: no Redis.
    slots: SlotLimiter | None = None
