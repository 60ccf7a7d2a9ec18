"""Inbound calls' personalization webhook, played from the provider's side.

When an inbound call rings, the provider POSTs `{caller_id, agent_id, called_number, call_sid}` to
the workspace's personalization URL and expects `conversation_initiation_client_data` back before
the call connects (reference §4). `POST /sandbox/inbound` does exactly that against a URL and
judges the answer by the provider's rules: `type` must be present (without it the real call fails
silently), dynamic variables must be strings, numbers or booleans, and `system__` is reserved.
The call counts against the workspace's concurrency limit, as the provider counts it, from the
ring until it ends: refused (429) when every slot is taken, freed at once when the answer would
fail it, else live for `talk_secs`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from pydantic import BaseModel, Field, ValidationError, field_validator

from orchestrator.dev.sandbox.calls import new_call_sid
from orchestrator.dev.sandbox.schemas import ClientData
from orchestrator.domain.phone import is_e164

CLIENT_DATA_TYPE = "conversation_initiation_client_data"


class InboundCall(BaseModel):
    """Body of `POST /sandbox/inbound`: who calls which number of which agent."""

    agent_id: str
    caller_id: str
    called_number: str | None = None
    url: str | None = None
    #: Simulated seconds the call stays live once answered (None: the sandbox's `talk_secs`).
    talk_secs: float | None = Field(default=None, ge=0, le=86_400, strict=True)

    @field_validator("caller_id", "called_number")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is not None and not is_e164(value):
            raise ValueError("must be a valid phone number in E.164, e.g. +14155550123")
        return value


@dataclass
class InboundStats:
    """Counters for `GET /sandbox/summary` → `inbound`."""

    calls: int = 0
    accepted: int = 0
    refused: int = 0
    #: Not let in: every concurrency slot was taken (the webhook was not rung).
    rejected_concurrency: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as JSON."""
        return asdict(self)


def judge(status_code: int, answer: Any) -> list[str]:
    """Why the provider would not start the conversation with this answer (empty: it would)."""
    if not 200 <= status_code < 300:
        return [f"answered HTTP {status_code}"]
    if not isinstance(answer, dict):
        return ["the answer is not a JSON object"]
    problems: list[str] = []
    if answer.get("type") != CLIENT_DATA_TYPE:
        problems.append(f"`type` must be {CLIENT_DATA_TYPE!r} (without it the call fails)")
    try:
        ClientData.model_validate(answer)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            problems.append(f"{where}: {error['msg']}")
    return problems


async def ring(
    client: httpx.AsyncClient,
    url: str,
    call: InboundCall,
    called_number: str,
    *,
    headers: dict[str, str],
    timeout: float,
) -> dict[str, Any]:
    """POST the personalization request and judge the answer; never raises for the receiver."""
    payload = {
        "caller_id": call.caller_id,
        "agent_id": call.agent_id,
        "called_number": called_number,
        "call_sid": new_call_sid("twilio"),
    }
    started = time.monotonic()
    status_code: int | None = None
    answer: Any = None
    try:
        response = await client.post(url, json=payload, headers=headers, timeout=timeout)
        status_code = response.status_code
        try:
            answer = response.json()
        except ValueError:
            answer = None
        problems = judge(status_code, answer)
    except httpx.TimeoutException:
        problems = [f"no answer within {timeout} s (the call would connect without it)"]
    except httpx.HTTPError as exc:
        problems = [f"request failed: {exc!r}"]
    return {
        "accepted": not problems,
        "call_sid": payload["call_sid"],
        "status_code": status_code,
        "latency_secs": round(time.monotonic() - started, 4),
        "problems": problems,
        "client_data": answer if not problems else None,
    }
