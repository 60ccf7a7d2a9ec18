"""HTTP routes of the sandbox: the provider's `/v1/convai/...` subset plus `/sandbox/...` controls.

`/v1` routes want `xi-api-key` and answer with the provider's shapes and status codes. The
`/sandbox` routes are the sandbox's own: the dial log and counters a test uses to prove the
orchestrator never over-dialled, an inbound-call probe of the personalization webhook, a reset,
and a health check.

Order of checks on a dial, like the provider: key (401) → body (422) → injected `system_busy`
(429) → injected 5xx (503) → concurrency (429) → the call is placed → maybe the answer hangs.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from orchestrator.dev.sandbox.audio import fake_mp3
from orchestrator.dev.sandbox.calls import Call, InvalidCursor, ListFilter, PhoneKind
from orchestrator.dev.sandbox.config import SandboxConfig
from orchestrator.dev.sandbox.delivery import MAX_IN_FLIGHT
from orchestrator.dev.sandbox.inbound import InboundCall, ring
from orchestrator.dev.sandbox.schemas import OutboundCallBody
from orchestrator.dev.sandbox.state import Sandbox
from orchestrator.dev.sandbox.twilio_routes import register_router, twilio_router

#: Seconds a client is told to wait after a 429 (`Retry-After`).
RETRY_AFTER_SECS = 1
#: How often a deliberately hung request checks whether its client gave up.
_HANG_POLL_SECS = 0.05


def get_sandbox(request: Request) -> Sandbox:
    """The app's `Sandbox` (set by `create_app`)."""
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]


def require_api_key(
    sandbox: SandboxDep,
    xi_api_key: Annotated[str | None, Header(alias="xi-api-key")] = None,
) -> None:
    """Refuse a request without the configured `xi-api-key` (401, the provider's shape)."""
    expected = sandbox.config.api_key.encode()
    if xi_api_key is None or not hmac.compare_digest(xi_api_key.encode(), expected):
        raise HTTPException(
            status_code=401,
            detail={"status": "invalid_api_key", "message": "Invalid or missing xi-api-key."},
        )


def _error(status_code: int, status: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        status_code=status_code,
        content={"detail": {"status": status, "message": message}},
        headers=headers or None,
    )


def _not_found(conversation_id: str) -> HTTPException:
    return HTTPException(
        status_code=404,
        detail={
            "status": "conversation_not_found",
            "message": f"Conversation {conversation_id} not found.",
        },
    )


def _lookup(sandbox: Sandbox, conversation_id: str) -> Call:
    call = sandbox.book.get(conversation_id)
    if call is None:
        raise _not_found(conversation_id)
    return call


async def _hang(request: Request, secs: float, closing: asyncio.Event) -> None:
    """Hold the answer back for `secs`, but let go once the client leaves or the server stops.

    Without the early exit a server shutdown would wait for every hung request.
    """
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline and not closing.is_set():
        if await request.is_disconnected():
            return
        await asyncio.sleep(min(_HANG_POLL_SECS, max(0.0, deadline - time.monotonic())))


async def _dial(
    kind: PhoneKind, body: OutboundCallBody, request: Request, sandbox: Sandbox
) -> Response | dict[str, Any]:
    config = sandbox.config
    if sandbox.roll(config.http_429_rate):
        sandbox.book.rejected_busy += 1
        return _error(
            429,
            "system_busy",
            "The system is busy, please retry with exponential backoff.",
            **{"Retry-After": str(RETRY_AFTER_SECS)},
        )
    if sandbox.roll(config.http_5xx_rate):
        sandbox.book.injected_5xx += 1
        return _error(503, "service_unavailable", "Service temporarily unavailable.")
    call = sandbox.simulator.place(body.to_request(kind))
    if call == "daily_limit":
        return _error(
            429,
            "daily_limit_exceeded",
            f"The agent's daily limit of {config.daily_limit} calls is reached.",
        )
    if isinstance(call, str):
        limit = config.live_limit if call == "concurrency" else config.agent_concurrency_limit
        whose = "" if call == "concurrency" else " for this agent"
        return _error(
            429,
            "too_many_concurrent_requests",
            f"Too many concurrent calls{whose}: the limit is {limit}.",
            **{"Retry-After": str(RETRY_AFTER_SECS)},
        )
    answer: dict[str, Any] = {
        "success": True,
        "message": "Call initiated",
        "conversation_id": call.conversation_id,
    }
    answer["callSid" if kind == "twilio" else "sip_call_id"] = call.call_sid
    if sandbox.roll(config.timeout_after_place_rate):
        # The call is placed and logged; only the answer is lost, like a timeout in real life.
        sandbox.book.timeouts_after_place += 1
        await _hang(request, config.timeout_after_place_secs, sandbox.closing)
    return answer


def provider_router() -> APIRouter:
    """The `/v1/convai` routes, all behind the API key."""
    router = APIRouter(prefix="/v1/convai", dependencies=[Depends(require_api_key)])

    @router.post("/twilio/outbound-call", response_model=None)
    async def twilio_outbound_call(
        body: OutboundCallBody, request: Request, sandbox: SandboxDep
    ) -> Response | dict[str, Any]:
        """Place a call from a number imported from Twilio."""
        return await _dial("twilio", body, request, sandbox)

    @router.post("/sip-trunk/outbound-call", response_model=None)
    async def sip_trunk_outbound_call(
        body: OutboundCallBody, request: Request, sandbox: SandboxDep
    ) -> Response | dict[str, Any]:
        """Place a call from a number imported from a SIP trunk."""
        return await _dial("sip_trunk", body, request, sandbox)

    @router.get("/conversations", response_model=None)
    async def list_conversations(
        sandbox: SandboxDep,
        agent_id: str | None = None,
        user_id: str | None = None,
        call_start_after_unix: int | None = None,
        call_start_before_unix: int | None = None,
        call_successful: Literal["success", "failure", "unknown"] | None = None,
        page_size: Annotated[int, Query(ge=1, le=100)] = 30,
        cursor: str | None = None,
    ) -> Response | dict[str, Any]:
        """Conversations newest first; `call_start_after_unix` is inclusive, `before` exclusive."""
        filters = ListFilter(
            agent_id=agent_id,
            user_id=user_id,
            call_start_after_unix=call_start_after_unix,
            call_start_before_unix=call_start_before_unix,
            call_successful=call_successful,
        )
        try:
            calls, next_cursor = sandbox.book.page(filters, page_size, cursor)
        except InvalidCursor:
            problem = {"type": "value_error", "loc": ["query", "cursor"], "msg": "Invalid cursor"}
            return JSONResponse(status_code=422, content={"detail": [problem]})
        return {
            "conversations": [call.summary() for call in calls],
            "has_more": next_cursor is not None,
            "next_cursor": next_cursor,
        }

    @router.get("/conversations/{conversation_id}")
    async def get_conversation(conversation_id: str, sandbox: SandboxDep) -> dict[str, Any]:
        """The full conversation record."""
        return _lookup(sandbox, conversation_id).conversation()

    @router.get("/conversations/{conversation_id}/audio", response_model=None)
    async def get_conversation_audio(conversation_id: str, sandbox: SandboxDep) -> Response:
        """The recording as `audio/mpeg`; 404 for calls that never connected or still run."""
        call = _lookup(sandbox, conversation_id)
        if not call.has_audio:
            raise HTTPException(
                status_code=404,
                detail={
                    "status": "audio_not_found",
                    "message": f"Conversation {conversation_id} has no audio.",
                },
            )
        audio = fake_mp3(call.conversation_id, sandbox.config.audio_bytes)
        return Response(content=audio, media_type="audio/mpeg")

    return router


def control_router() -> APIRouter:
    """The sandbox's own `/sandbox` routes (no key: they exist only here)."""
    router = APIRouter(prefix="/sandbox")

    @router.get("/dials")
    async def dials(sandbox: SandboxDep) -> dict[str, Any]:
        """Every placed call in dial order, including those whose answer was lost."""
        return {"dials": [call.dial() for call in sandbox.book.calls]}

    @router.get("/summary")
    async def summary(sandbox: SandboxDep) -> dict[str, Any]:
        """Counters: dials, concurrency, rejections, faults, outcomes, webhooks."""
        return sandbox.summary()

    @router.post("/inbound", response_model=None)
    async def inbound(call: InboundCall, sandbox: SandboxDep) -> Response | dict[str, Any]:
        """Ring the personalization webhook as an inbound call would, and judge its answer.

        The call takes a concurrency slot like an outbound one: with none free it is refused
        (429 `too_many_concurrent_requests`, the webhook not rung); an answer that would fail
        it frees the slot at once; an accepted one holds it for `talk_secs`.
        """
        config = sandbox.config
        url = call.url or config.personalization_url
        client = sandbox.deliverer.client
        if url is None:
            raise HTTPException(
                status_code=400, detail="no url given and no personalization_url configured"
            )
        if client is None:
            raise HTTPException(status_code=503, detail="the sandbox is not running")
        sandbox.inbound.calls += 1
        book = sandbox.book
        if not book.admit_inbound():
            sandbox.inbound.rejected_concurrency += 1
            return _error(
                429,
                "too_many_concurrent_requests",
                f"Too many concurrent calls: the limit is {config.live_limit}.",
                **{"Retry-After": str(RETRY_AFTER_SECS)},
            )
        try:
            verdict = await ring(
                client,
                url,
                call,
                call.called_number or config.agent_number,
                headers=config.personalization_headers,
                timeout=config.personalization_timeout_secs,
            )
        except BaseException:
            book.end_inbound()
            raise
        if sandbox.book is not book:
            return verdict  # reset while ringing: that book and its counters are gone
        if verdict["accepted"]:
            sandbox.inbound.accepted += 1
            talk = config.talk_secs if call.talk_secs is None else call.talk_secs
            sandbox.simulator.hold_inbound(talk)
        else:
            sandbox.inbound.refused += 1
            book.end_inbound()
        return verdict

    @router.post("/reset")
    async def reset(sandbox: SandboxDep) -> dict[str, Any]:
        """Forget every call and counter."""
        sandbox.reset()
        return {"reset": True}

    @router.get("/health")
    async def health(sandbox: SandboxDep) -> dict[str, Any]:
        """Liveness, with the current number of live calls."""
        return {"status": "ok", "live": sandbox.book.live}

    return router


async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 shape without the offending input: an input JSON cannot carry back (NaN,
    Infinity, which Python's parser accepts) would otherwise turn the answer into a 500."""
    problems = [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": problems})


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    """The sandbox as an ASGI app; its webhook client lives for the app's lifespan."""
    sandbox = Sandbox(config or SandboxConfig())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        limits = httpx.Limits(
            max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT
        )
        timeout = httpx.Timeout(sandbox.config.webhook_timeout_secs)
        async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
            sandbox.deliverer.client = client
            try:
                yield
            finally:
                await sandbox.aclose()
                sandbox.deliverer.client = None

    app = FastAPI(
        title="ElevenLabs sandbox",
        description="A local simulator of the ElevenLabs Agents telephony API.",
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.include_router(provider_router())
    app.include_router(register_router(require_api_key))
    app.include_router(twilio_router())
    app.include_router(control_router())
    return app
