"""Job functions. Each takes ids or plain values and calls one stage function."""

from __future__ import annotations

from typing import Any

from arq import Retry

from orchestrator.deps import Deps
from orchestrator.dialing.dial import dial_attempt as _dial
from orchestrator.intake.jobs import enqueue_call_payload
from orchestrator.lifecycle.parking import INFRASTRUCTURE_ERRORS, PARKED_EVENT, count_event_failure
from orchestrator.tracking.events import EventResult, process_event

#: How many times an event for a not-yet-known conversation is retried before it waits as
#: unmatched (the dial that created the conversation may still be committing).
UNMATCHED_TRIES = 8


def _deps(ctx: dict[str, Any]) -> Deps:
    deps = ctx["deps"]
    assert isinstance(deps, Deps)
    return deps


async def dial_attempt(ctx: dict[str, Any], attempt_id: int) -> str:
    """Dial one queued attempt."""
    return str(await _dial(_deps(ctx), attempt_id))


async def process_webhook_event(ctx: dict[str, Any], event_id: int) -> str:
    """Apply one stored webhook event; retried briefly while its conversation is unknown.

    An event whose processing fails the same way `park_after_failures` times is parked with
    its reason (`orchestrator parked`), so the stored-event sweep stops retrying it forever.
    """
    deps = _deps(ctx)
    try:
        result = await process_event(deps, event_id)
    except INFRASTRUCTURE_ERRORS:
        raise
    except Exception as exc:
        if await count_event_failure(deps, event_id, exc):
            return PARKED_EVENT
        raise
    if result is EventResult.UNMATCHED and ctx.get("job_try", 1) < UNMATCHED_TRIES:
        raise Retry(defer=0.25 * ctx.get("job_try", 1))
    return str(result)


async def enqueue_call(ctx: dict[str, Any], payload: dict[str, Any]) -> str:
    """The public Redis contract: one contact row plus its campaign (see README)."""
    return await enqueue_call_payload(_deps(ctx), payload)
