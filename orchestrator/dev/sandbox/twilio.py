"""Twilio's part, for calls the orchestrator places with its own Twilio client.

`POST /v1/convai/twilio/register-call` (the provider) answers TwiML that connects the call to the
agent; `POST /2010-04-01/Accounts/{sid}/Calls.json` (Twilio) places the call with that TwiML and
then posts Twilio's status callbacks, signed with `X-Twilio-Signature` as Twilio does, including
the answering-machine detection result (`AnsweredBy`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

from orchestrator.dev.sandbox.calls import Call, DialRequest
from orchestrator.dev.sandbox.config import SandboxConfig

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"/stream/([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class Registration:
    """What register-call was told; the TwiML carries its token."""

    agent_id: str
    from_number: str
    to_number: str
    client_data: dict[str, Any] | None


class TwilioSide:
    """Registrations and the status callbacks of Twilio-placed calls."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self._registrations: dict[str, Registration] = {}
        self._validator = RequestValidator(config.twilio_auth_token)
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self.callbacks_sent = 0
        self.callbacks_failed = 0

    def register(self, registration: Registration) -> str:
        """Keep the registration; return the TwiML that connects a call to the agent."""
        token = secrets.token_urlsafe(12)
        self._registrations[token] = registration
        return (
            '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
            f'<Stream url="wss://sandbox.invalid/v1/convai/twilio/stream/{token}"/>'
            "</Connect></Response>"
        )

    def dial_request(self, form: dict[str, str]) -> DialRequest | str:
        """The call a Calls.json request asks for, or the reason it cannot be placed."""
        match = _TOKEN.search(form.get("Twiml", ""))
        registration = self._registrations.pop(match.group(1), None) if match else None
        if registration is None:
            return "Twiml does not come from register-call (or was used already)"
        if form.get("To") != registration.to_number:
            return "To does not match the registered to_number"
        return DialRequest(
            kind="twilio",
            agent_id=registration.agent_id,
            agent_phone_number_id="twilio-direct",
            to_number=registration.to_number,
            client_data=registration.client_data,
            twilio_status_callback=form.get("StatusCallback") or None,
        )

    def status(self, call: Call, status: str, **extra: str) -> None:
        """Post one status callback for `call` (in the background)."""
        url = call.request.twilio_status_callback
        if not url:
            return
        params = {
            "AccountSid": self._config.twilio_account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": call.call_sid,
            "CallStatus": status,
            "Direction": "outbound-api",
            "From": call.agent_number,
            "To": call.request.to_number,
            **extra,
        }
        task = asyncio.create_task(self._post(url, params))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, url: str, params: dict[str, str]) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0)
        signature = self._validator.compute_signature(url, params)
        try:
            response = await self._http.post(
                url, data=params, headers={"X-Twilio-Signature": signature}
            )
            if response.is_success:
                self.callbacks_sent += 1
            else:
                self.callbacks_failed += 1
        except httpx.HTTPError:
            self.callbacks_failed += 1

    async def aclose(self) -> None:
        """Wait for callbacks in flight, then close the client."""
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
