"""The FastAPI application (`orchestrator web`, the Procfile's `web:`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from arq import create_pool
from fastapi import FastAPI

from orchestrator import __version__
from orchestrator.deps import build_deps, close_deps
from orchestrator.errors import UnsignedNotifications
from orchestrator.lifecycle import notify
from orchestrator.metrics.web import WebMetrics
from orchestrator.recordings.store import FolderStorage
from orchestrator.redis_conn import web_redis_settings
from orchestrator.settings import Settings
from orchestrator.settings_errors import load_or_exit
from orchestrator.store.engine import Database
from orchestrator.store.write_turns import Priority
from orchestrator.tracking.event_writer import EventWriter
from orchestrator.web import errors, pages, problems, schemas
from orchestrator.web.body_limit import BodyLimit
from orchestrator.web.routes import (
    calls,
    campaigns,
    contacts,
    dashboard,
    health,
    parked,
    personalization,
    reports,
    signin,
    twilio,
    webhooks,
)
from orchestrator.web.state import AppState


def create_app(settings: Settings | None = None, *, check_signing: bool = True) -> FastAPI:
    """Build the app; resources are opened in the lifespan and closed after it.

    The settings (personas included) are validated when loaded, so a bad `personas.toml` stops
    `orchestrator web` at start-up with the persona and field named. At start-up every campaign
    that notifies a CRM must be able to sign (`tracking.notify.check_signing`: refused in prod,
    warned about elsewhere); `check_signing=False` when the caller checked already.
    """
    # Invalid settings end the process with each field named and no value (not a traceback
    # through uvicorn's factory loading that would print them).
    resolved = settings or load_or_exit()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Webhook senders wait on this process's writes: the worker's backlog goes second.
        db = Database(resolved.database_url, write_priority=Priority.URGENT)
        if check_signing:
            try:
                await notify.check_signing(db, resolved)
            except UnsignedNotifications:
                await db.dispose()
                raise
        queue = await create_pool(
            # No command retries here: in a Redis outage a webhook gets a quick 503 (the provider
            # may retry; an event stored before the failure is swept up later), not a hang.
            web_redis_settings(resolved.redis_url),
            default_queue_name=resolved.queue_name,
        )
        deps = build_deps(resolved, queue, queue=queue, db=db)
        app.state.orch = AppState(
            deps=deps,
            metrics=WebMetrics(),
            storage=FolderStorage(resolved.audio_dir),
            events=EventWriter(db, queue, resolved),
        )
        await app.state.orch.events.start()
        personalizer = personalization.open_personalization(
            app, resolved, db, app.state.orch.metrics
        )
        try:
            yield
        finally:
            await personalizer.close()
            await app.state.orch.events.stop()
            await close_deps(deps)  # the database included
            await queue.aclose()

    app = FastAPI(
        title="Call orchestrator",
        version=__version__,
        description="Outbound calling for ElevenLabs voice agents: intake, scheduling, dialing, "
        "tracking and reports.",
        lifespan=lifespan,
    )
    errors.install(app)
    problems.install(app)
    pages.install(app)
    app.add_middleware(BodyLimit, limit=resolved.max_body_bytes)
    app.add_middleware(BodyLimit, limit=16_384, prefix="/dashboard/")  # the browser forms
    # First: the inbound webhook answers while a phone rings, so it is matched before the rest.
    app.include_router(personalization.router)
    app.include_router(webhooks.router)
    app.include_router(twilio.router)
    app.include_router(health.router)
    app.include_router(campaigns.router)
    app.include_router(contacts.router)
    app.include_router(calls.router)
    app.include_router(parked.router)
    app.include_router(reports.router)
    app.include_router(dashboard.router)
    app.include_router(signin.router)
    schemas.install(app)
    return app
