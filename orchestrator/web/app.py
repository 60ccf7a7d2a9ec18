"""The FastAPI application (`orchestrator web`, the Procfile's `web:`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from arq import create_pool
from arq.connections import RedisSettings
from fastapi import FastAPI

from orchestrator import __version__
from orchestrator.settings import Settings, load_settings
from orchestrator.storage import FolderStorage
from orchestrator.store.engine import Database
from orchestrator.web import errors
from orchestrator.web.routes import health, webhooks
from orchestrator.web.state import AppState, WebMetrics


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; resources are opened in the lifespan and closed after it."""
    resolved = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(resolved.database_url)
        queue = await create_pool(
            RedisSettings.from_dsn(resolved.redis_url),
            default_queue_name=resolved.queue_name,
        )
        app.state.orch = AppState(
            settings=resolved,
            db=db,
            queue=queue,
            metrics=WebMetrics(),
            storage=FolderStorage(resolved.audio_dir),
        )
        try:
            yield
        finally:
            await queue.aclose()
            await db.dispose()

    app = FastAPI(
        title="Call orchestrator",
        version=__version__,
        description="Outbound calling for ElevenLabs voice agents: intake, scheduling, dialing, "
        "tracking and reports.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(webhooks.router)
    app.include_router(health.router)
    return app
