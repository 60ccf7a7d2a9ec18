"""Provider webhooks: verify while receiving, store, enqueue, answer 200 — nothing slow."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from orchestrator.domain import signing
from orchestrator.errors import BodyTooLarge, StorageFull, ValidationFailed
from orchestrator.tracking.ingest import ingest_post_call
from orchestrator.tracking.receive import receive
from orchestrator.web.body_limit import too_large_answer
from orchestrator.web.deps import State

router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/elevenlabs/post-call",
    responses={
        401: {"description": "missing, forged or stale signature"},
        400: {"description": "verified but unusable body (kept for inspection)"},
        413: {"description": "body too large"},
        503: {"description": "the recording could not be stored; retry later"},
    },
)
async def post_call(request: Request, state: State) -> Any:
    """Receive `post_call_transcription`, `post_call_audio` and `call_initiation_failure`."""
    settings = state.settings
    started = time.perf_counter()
    try:
        received = await receive(
            request.stream(),
            request.headers.get(signing.HEADER),
            settings.effective_webhook_secrets,
            state.storage,
            now=time.time(),
            tolerance_secs=settings.webhook_tolerance_secs,
            future_secs=settings.webhook_future_tolerance_secs,
        )
    except BodyTooLarge as exc:
        return JSONResponse(too_large_answer(exc.limit), status_code=413)
    except StorageFull as exc:
        # Not accepted, so nothing is lost: the provider may retry, and the poller fetches
        # recordings that never arrived.
        return JSONResponse({"error": "storage_unavailable", "reason": str(exc)}, status_code=503)
    try:
        slots = state.slots
        result = await ingest_post_call(
            state.events, received, on_ended=slots.release_call if slots is not None else None
        )
    except ValidationFailed:
        raise
    except Exception as exc:
        # The database or Redis failed: not accepted, so the provider may retry and polling
        # catches up; say so instead of a bare 500.
        return JSONResponse(
            {"error": "temporarily_unavailable", "reason": type(exc).__name__}, status_code=503
        )
    state.metrics.webhooks.labels(result.event_type).inc()
    state.metrics.webhook_seconds.observe(time.perf_counter() - started)
    return {"status": "accepted", "event_id": result.event_id}
