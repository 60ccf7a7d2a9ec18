"""Health and metrics."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from orchestrator.metrics.shared import gather
from orchestrator.web.deps import State

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(request: Request, state: State) -> JSONResponse:
    """200 when Redis and the database answer, 503 naming what does not."""
    checks: dict[str, str] = {}
    try:
        await state.queue.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    try:
        async with state.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "degraded", **checks}, 200 if ok else 503)


# The response class only documents the answer as `text/plain` (the route builds its own
# Response with Prometheus' exact content type, version included).
@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "Prometheus text exposition format"}},
)
async def metrics(request: Request, state: State) -> Response:
    """Prometheus text exposition."""
    # A scrape must answer even when Redis or the database is down: it shows the last values.
    with contextlib.suppress(Exception):
        state.metrics.shared.snapshot = await gather(
            state.queue, state.db, state.settings.account_limit
        )
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
