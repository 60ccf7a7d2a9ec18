"""Prometheus metrics, in one home.

- `shared`: what stays right with many worker processes: counters workers add to in Redis
  (`count`), and gauges read at scrape time from the limiter and the database (`gather`,
  `SharedCollector`);
- `web`: one web app's registry (`WebMetrics`): webhooks accepted and their latency, and the
  shared collector;
- `personalization`: the inbound webhook's latency, hits, misses and refusals.

`/metrics` (`web/routes/health.py`) serves the web app's registry.
"""

from orchestrator.metrics.shared import COUNTERS, count, gather

__all__ = ["COUNTERS", "count", "gather"]
