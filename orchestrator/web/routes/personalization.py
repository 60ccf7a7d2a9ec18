"""`POST /webhooks/elevenlabs/personalization`: who is calling, answered while it rings.

A lean route: a plain ASGI endpoint (no request or response objects, no dependency machinery or
model parsing) behind the app's usual middleware, so its whole cost is the checks, one Redis GET
(`personalization/record_reader.py`) and sending the stored bytes. Order of checks: declared
size (413) → secret header (401) → body read under the cap (413) → JSON and fields (400/422).
Only those answer 4xx; past them every failure answers the agent's defaults with 200, because a
5xx or a late answer would fail the caller's call. `GET /version` is a static JSON route kept as
the yardstick the benchmark compares the webhook's throughput against.
"""

from __future__ import annotations

import time

import orjson
import structlog
from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from orchestrator import __version__
from orchestrator.errors import PersonalizationRefused
from orchestrator.metrics.web import WebMetrics
from orchestrator.personalization.lookup import Personalizer
from orchestrator.personalization.request import Gate
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.web.body_limit import too_large_answer

log = structlog.get_logger(__name__)

PATH = "/webhooks/elevenlabs/personalization"
_JSON = "application/json"
_JSON_BYTES = _JSON.encode()
_VERSION = orjson.dumps({"version": __version__})


class PersonalizationRoute:
    """What the endpoint needs, built in the app's lifespan."""

    def __init__(self, personalizer: Personalizer, gate: Gate, max_body: int) -> None:
        self.personalizer = personalizer
        self.gate = gate
        self.max_body = max_body
        self.metrics = personalizer.metrics
        self._header = gate.header.encode("latin-1")

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request (never 5xx)."""
        started = time.perf_counter()
        agent_id = None
        status = 200
        try:
            body = await self._checked_body(scope, receive)
            inbound = self.gate.parse(body)
            agent_id = inbound.agent_id
            content = await self.personalizer.answer(
                inbound.agent_id, inbound.caller_id, before_database=self.gate.check_caller
            )
        except PersonalizationRefused as refused:
            counter = self.metrics.rejected.get(refused.status)
            if counter is not None:
                counter.inc()
            status, content = refused.status, orjson.dumps(refused.payload)
        except Exception as exc:
            # A bug or a client that went away: the call still gets every declared variable.
            self.metrics.fallback["error"].inc()
            log.warning("personalization.failed", error=type(exc).__name__)
            content = self.personalizer.defaults_for(agent_id or "")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", _JSON_BYTES),
                    (b"content-length", b"%d" % len(content)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})
        self.metrics.seconds.observe(time.perf_counter() - started)

    async def _checked_body(self, scope: Scope, receive: Receive) -> bytes:
        declared = None
        given = None
        header = self._header
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == header:
                given = value
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise self._too_large()
        self.gate.authenticate(given.decode("latin-1") if given is not None else None)
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ConnectionResetError("the client went away")
            body += message.get("body", b"")
            if len(body) > self.max_body:
                raise self._too_large()
            if not message.get("more_body", False):
                return bytes(body)

    def _too_large(self) -> PersonalizationRefused:
        return PersonalizationRefused(413, too_large_answer(self.max_body))


class _Endpoint:
    """The route's ASGI app (Starlette serves a non-function endpoint as raw ASGI)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: PersonalizationRoute = scope["app"].state.personalization
        await route.handle(scope, receive, send)


async def version(_request: Request) -> Response:
    """`{"version": ...}`: a static answer (the benchmark's yardstick)."""
    return Response(_VERSION, media_type=_JSON)


router = APIRouter(tags=["webhooks"])
# Starlette serves a callable that is not a function as a raw ASGI app.
router.add_route(PATH, _Endpoint(), methods=["POST"], include_in_schema=False)  # type: ignore[arg-type]
router.add_route("/version", version, methods=["GET"], include_in_schema=False)


def open_personalization(
    app: FastAPI, settings: Settings, db: Database, metrics: WebMetrics
) -> Personalizer:
    """Build the route's state on `app` (in the lifespan); the caller closes the result."""
    box: SecretBox = app.state.orch.deps.box
    personalizer = Personalizer.open(settings, db, box, metrics.registry)
    gate = Gate.from_settings(settings)
    if not gate.configured:
        log.warning("personalization.no_secret", header=settings.personalization_header)
    app.state.personalization = PersonalizationRoute(
        personalizer, gate, settings.personalization_max_body_bytes
    )
    return personalizer
