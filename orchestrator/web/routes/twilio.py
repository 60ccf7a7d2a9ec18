"""Twilio status callbacks for calls placed with our own Twilio client.

Verified with twilio's `RequestValidator` against the public URL from settings (behind a proxy
the request's own URL is not what Twilio signed), stored raw, enqueued, answered 204.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from twilio.request_validator import RequestValidator

from orchestrator.dialing.route import TWILIO_STATUS_PATH
from orchestrator.tracking.event_writer import PendingEvent
from orchestrator.web.deps import State

router = APIRouter(tags=["webhooks"])

PATH = TWILIO_STATUS_PATH


@router.post(
    PATH,
    status_code=204,
    responses={401: {"description": "missing or wrong X-Twilio-Signature"}},
)
async def twilio_status(request: Request, state: State) -> Response:
    """Receive one status callback (`CallStatus`, `AnsweredBy`, `CallDuration`, ...)."""
    twilio = state.settings.effective_twilio
    form = await request.form()
    params = {key: str(value) for key, value in form.multi_items()}
    signature = request.headers.get("X-Twilio-Signature", "")
    url = state.settings.public_url.rstrip("/") + PATH
    if request.url.query:
        url += "?" + request.url.query
    if (
        twilio is None
        or not signature
        or not RequestValidator(twilio[1]).validate(url, params, signature)
    ):
        return JSONResponse(
            {"error": "invalid_signature", "reason": "X-Twilio-Signature does not match"},
            status_code=401,
        )
    call_sid = params.get("CallSid")
    if not call_sid:
        return JSONResponse(
            {"error": "invalid_request", "problems": [{"field": "CallSid", "reason": "required"}]},
            status_code=400,
        )
    await state.events.store(
        PendingEvent(
            event_type="twilio_status",
            conversation_id=None,
            event_timestamp=None,
            body=urlencode(params).encode(),
            source="twilio",
            call_sid=call_sid,
            job_suffix=":" + params.get("CallStatus", ""),
        )
    )
    return Response(status_code=204)
