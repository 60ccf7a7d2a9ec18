"""Routes of the Twilio path: the provider's register-call and Twilio's Calls API."""

from __future__ import annotations

import base64
import hmac
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from orchestrator.dev.sandbox.state import Sandbox
from orchestrator.dev.sandbox.twilio import Registration


class RegisterCallBody(BaseModel):
    """`POST /v1/convai/twilio/register-call`."""

    agent_id: str = Field(min_length=1)
    from_number: str = Field(min_length=1)
    to_number: str = Field(min_length=1)
    direction: str = "outbound"
    conversation_initiation_client_data: dict[str, Any] | None = None


def _sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def register_router(require_api_key: Any) -> APIRouter:
    """`POST /v1/convai/twilio/register-call`, behind the provider's API key."""
    router = APIRouter(prefix="/v1/convai/twilio", dependencies=[Depends(require_api_key)])

    @router.post("/register-call", response_model=None)
    async def register_call(body: RegisterCallBody, request: Request) -> Response:
        """Answer the TwiML that connects a call placed with the caller's Twilio to the agent."""
        twiml = _sandbox(request).twilio.register(
            Registration(
                body.agent_id,
                body.from_number,
                body.to_number,
                body.conversation_initiation_client_data,
            )
        )
        return Response(content=twiml, media_type="application/xml")

    return router


def _check_basic_auth(request: Request, sandbox: Sandbox, account_sid: str) -> None:
    config = sandbox.config
    expected = f"{config.twilio_account_sid}:{config.twilio_auth_token}".encode()
    header = request.headers.get("authorization", "")
    given = base64.b64decode(header[6:]) if header.startswith("Basic ") else b""
    if account_sid != config.twilio_account_sid or not hmac.compare_digest(given, expected):
        raise HTTPException(status_code=401, detail={"code": 20003, "message": "Authenticate"})


def twilio_router() -> APIRouter:
    """Twilio's `Calls.json` (form-encoded, HTTP basic auth with the account SID and token)."""
    router = APIRouter(prefix="/2010-04-01/Accounts")

    @router.post("/{account_sid}/Calls.json", response_model=None)
    async def create_call(account_sid: str, request: Request) -> Response:
        """Place a call from TwiML obtained through register-call."""
        sandbox = _sandbox(request)
        _check_basic_auth(request, sandbox, account_sid)
        form = {k: str(v) for k, v in (await request.form()).items()}
        dial = sandbox.twilio.dial_request(form)
        if isinstance(dial, str):
            return JSONResponse({"code": 21205, "message": dial, "status": 400}, status_code=400)
        call = sandbox.simulator.place(dial)
        if isinstance(call, str):
            # The agent has no room for the stream: the provider would reject the connection.
            return JSONResponse(
                {"code": 20429, "message": "Too many concurrent calls", "status": 429},
                status_code=429,
            )
        return JSONResponse(
            {
                "sid": call.call_sid,
                "account_sid": account_sid,
                "status": "queued",
                "to": dial.to_number,
                "from": form.get("From"),
                "direction": "outbound-api",
                "uri": f"/2010-04-01/Accounts/{account_sid}/Calls/{call.call_sid}.json",
            },
            status_code=201,
        )

    return router
