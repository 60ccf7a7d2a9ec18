"""Resources of the web process, created in the lifespan and kept on `app.state.orch`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from orchestrator.settings import Settings
from orchestrator.store.engine import Database


class WebMetrics:
    """Prometheus metrics of one web app (own registry, so apps in one process don't clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhooks = Counter(
            "orchestrator_webhooks_accepted_total",
            "Verified webhooks stored and enqueued, by event type.",
            ["event_type"],
            registry=self.registry,
        )


@dataclass
class AppState:
    """What every request handler may use."""

    settings: Settings
    db: Database
    queue: Any
    metrics: WebMetrics
