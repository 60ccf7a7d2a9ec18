"""`POST /webhooks/elevenlabs/personalization`: who is calling, answered while it rings.

A lean route (a plain Starlette endpoint, no dependency machinery or model parsing): its whole
cost is the checks, one Redis GET and returning the stored bytes. Order of checks: declared
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

from orchestrator import __version__
from orchestrator.personalization.lookup import Personalizer
from orchestrator.personalization.request import Gate, Refused
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.web.state import WebMetrics

log = structlog.get_logger(__name__)

PATH = "/webhooks/elevenlabs/personalization"
_JSON = "application/json"
_VERSION = orjson.dumps({"version": __version__})


class PersonalizationRoute:
    """What the endpoint needs, built in the app's lifespan."""

    def __init__(self, personalizer: Personalizer, gate: Gate, max_body: int) -> None:
        self.personalizer = personalizer
        self.gate = gate
        self.max_body = max_body
        self.metrics = personalizer.metrics

    async def handle(self, request: Request) -> Response:
        """Answer one request (never 5xx)."""
        started = time.perf_counter()
        agent_id = None
        try:
            body = await self._checked_body(request)
            inbound = self.gate.parse(body)
            agent_id = inbound.agent_id
            content = await self.personalizer.answer(inbound.agent_id, inbound.caller_id)
            response = Response(content, media_type=_JSON)
        except Refused as refused:
            counter = self.metrics.rejected.get(refused.status)
            if counter is not None:
                counter.inc()
            response = Response(refused.body, status_code=refused.status, media_type=_JSON)
        except Exception as exc:
            # A bug or a client that went away: the call still gets every declared variable.
            self.metrics.fallback["error"].inc()
            log.warning("personalization.failed", error=type(exc).__name__)
            fallback = self.personalizer.defaults_for(agent_id or "")
            response = Response(fallback, media_type=_JSON)
        self.metrics.seconds.observe(time.perf_counter() - started)
        return response

    async def _checked_body(self, request: Request) -> bytes:
        headers = request.headers
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise self._too_large()
        self.gate.authenticate(headers.get(self.gate.header))
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body:
                raise self._too_large()
        return body

    def _too_large(self) -> Refused:
        return Refused(
            413,
            {"error": "body_too_large", "reason": f"the body is larger than {self.max_body} bytes"},
        )


async def personalization(request: Request) -> Response:
    """The provider's personalization webhook (reference §4)."""
    route: PersonalizationRoute = request.app.state.personalization
    return await route.handle(request)


async def version(_request: Request) -> Response:
    """`{"version": ...}`: a static answer (the benchmark's yardstick)."""
    return Response(_VERSION, media_type=_JSON)


router = APIRouter(tags=["webhooks"])
router.add_route(PATH, personalization, methods=["POST"], include_in_schema=False)
router.add_route("/version", version, methods=["GET"], include_in_schema=False)


def open_personalization(
    app: FastAPI, settings: Settings, db: Database, metrics: WebMetrics
) -> Personalizer:
    """Build the route's state on `app` (in the lifespan); the caller closes the result."""
    box: SecretBox = app.state.secret_box
    personalizer = Personalizer.open(settings, db, box, metrics.registry)
    gate = Gate.from_settings(settings)
    if not gate.configured:
        log.warning("personalization.no_secret", header=settings.personalization_header)
    app.state.personalization = PersonalizationRoute(
        personalizer, gate, settings.personalization_max_body_bytes
    )
    return personalizer
