"""Provider webhooks: verify, store, enqueue, answer 200 — nothing slow in the request."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from orchestrator.domain import signing
from orchestrator.tracking.ingest import ingest_post_call
from orchestrator.web.body import read_capped
from orchestrator.web.state import AppState

router = APIRouter(tags=["webhooks"])

#: Post-call audio arrives base64-encoded in the body and can be tens of megabytes.
MAX_WEBHOOK_BYTES = 200 * 1024 * 1024


@router.post("/webhooks/elevenlabs/post-call")
async def post_call(request: Request) -> dict[str, object]:
    """Receive `post_call_transcription`, `post_call_audio` and `call_initiation_failure`."""
    state: AppState = request.app.state.orch
    body = await read_capped(request, MAX_WEBHOOK_BYTES)
    result = await ingest_post_call(
        state.db,
        state.queue,
        state.settings,
        body,
        request.headers.get(signing.HEADER),
        now=time.time(),
    )
    state.metrics.webhooks.labels(result.event_type).inc()
    return {"status": "accepted", "event_id": result.event_id}
