"""Metrics of one web app: its own Prometheus registry, the cluster-wide collector on it."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from orchestrator.metrics.shared import SharedCollector


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
