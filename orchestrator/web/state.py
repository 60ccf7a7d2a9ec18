"""Resources of the web process, created in the lifespan; routes reach them via `web/deps.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.deps import Deps
from orchestrator.limiter.slots import SlotLimiter
from orchestrator.metrics.web import WebMetrics
from orchestrator.recordings.store import Storage
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.tracking.event_writer import EventWriter


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
