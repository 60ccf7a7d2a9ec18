"""A webhook receiver that checks signatures and records what arrives: the other end of the wire.

Used by the sandbox's tests and handy for trying the sandbox alone (point `webhook_url` at it).
It verifies `ElevenLabs-Signature` with the orchestrator's own `signing.verify`, so a passing
test proves the two sides agree on the scheme.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.requests import ClientDisconnect

from orchestrator.dev.sandbox.server import running_app
from orchestrator.domain import signing
from orchestrator.errors import SignatureError
from orchestrator.settings import SANDBOX_WEBHOOK_SECRET

PATH = "/webhooks/elevenlabs/post-call"


@dataclass(frozen=True)
class Received:
    """One accepted webhook."""

    type: str
    event_timestamp: int
    data: dict[str, Any]
    signed_at: int
    chunked: bool
    size: int

    @property
    def conversation_id(self) -> str | None:
        """The conversation the event is about."""
        value = self.data.get("conversation_id")
        return str(value) if value is not None else None


@dataclass
class WebhookSink:
    """Records signed webhooks POSTed to `PATH`.

    The first `fail_first` correctly signed requests are answered `fail_status` instead of being
    recorded, to exercise the sender's failure handling and retries.
    """

    secret: str = SANDBOX_WEBHOOK_SECRET
    fail_first: int = 0
    fail_status: int = 500
    events: list[Received] = field(default_factory=list)
    rejected: int = 0
    attempts: int = 0
    disconnects: int = 0

    def app(self) -> FastAPI:
        """An ASGI app that feeds this sink."""
        app = FastAPI()

        @app.post(PATH)
        async def receive(request: Request) -> Response:
            self.attempts += 1
            try:
                body = await request.body()
            except ClientDisconnect:
                # The sender gave up mid-body (its timeout): nothing arrived, nothing to answer.
                self.disconnects += 1
                return Response(status_code=499)
            try:
                signed_at = signing.verify(
                    request.headers.get(signing.HEADER), body, [self.secret], now=time.time()
                )
            except SignatureError:
                self.rejected += 1
                return Response(status_code=401)
            if self.fail_first > 0:
                self.fail_first -= 1
                return Response(status_code=self.fail_status)
            payload = json.loads(body)
            self.events.append(
                Received(
                    type=payload["type"],
                    event_timestamp=payload["event_timestamp"],
                    data=payload["data"],
                    signed_at=signed_at,
                    chunked=request.headers.get("transfer-encoding", "").lower() == "chunked",
                    size=len(body),
                )
            )
            return Response(status_code=200)

        return app

    def of_type(self, event_type: str) -> list[Received]:
        """Accepted events of one type, in arrival order."""
        return [event for event in self.events if event.type == event_type]

    async def wait_for(
        self, condition: Callable[[WebhookSink], bool], within: float = 20.0
    ) -> bool:
        """Poll until `condition(self)` holds; False if it still does not after `within` s."""
        deadline = time.monotonic() + within
        while not condition(self):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True


@asynccontextmanager
async def running_sink(sink: WebhookSink | None = None) -> AsyncIterator[tuple[WebhookSink, str]]:
    """Serve a sink on a free loopback port; yields it and the URL to give as `webhook_url`."""
    sink = sink or WebhookSink()
    async with running_app(sink.app()) as served:
        yield sink, served.base_url + PATH
