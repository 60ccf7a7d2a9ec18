"""Parked records over HTTP: what failed the same way again and again, why, and re-queueing it.

An attempt (or a stored webhook event) that failed the same way `ORCH_PARK_AFTER_FAILURES` times
in a row is taken out of its loop instead of retried forever (`tracking/parking.py`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from orchestrator.lifecycle import parking
from orchestrator.web.auth import CrmToken, SupervisorToken
from orchestrator.web.deps import app_state
from orchestrator.web.problems import ApiError, responses
from orchestrator.web.state import AppState

router = APIRouter(prefix="/v1", tags=["parked"])

Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


class ParkedAttemptOut(BaseModel):
    """An attempt out of the dial loop."""

    attempt_id: int
    campaign: str
    external_id: str
    phone_number: str
    failures: int = Field(description="Failures of one kind in a row that parked it")
    kind: str | None = Field(description="The kind of failure (an error class)")
    reason: str | None = Field(description="The last failure, naming the field when it can")
    parked_at: datetime


class ParkedEventOut(BaseModel):
    """A stored webhook event whose processing keeps failing."""

    event_id: int
    event_type: str
    conversation_id: str | None
    failures: int
    reason: str | None
    received_at: datetime


class ParkedOut(BaseModel):
    """Everything parked, the most recent first."""

    attempts: list[ParkedAttemptOut]
    events: list[ParkedEventOut]


class Requeued(BaseModel):
    """A parked record put back in its loop."""

    id: int
    state: str


def _state(request: Request) -> AppState:
    return app_state(request)


@router.get(
    "/parked",
    response_model=ParkedOut,
    summary="Attempts and webhook events parked after failing the same way again and again",
    responses=responses(401, 403),
)
async def list_parked(
    request: Request,
    token: SupervisorToken,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ParkedOut:
    """Each with its reason; fix the cause, then re-queue it."""
    db = _state(request).db
    attempts = await parking.list_parked(db, limit=limit)
    events = await parking.list_parked_events(db, limit=limit)
    return ParkedOut(
        attempts=[ParkedAttemptOut(**vars(a)) for a in attempts],
        events=[ParkedEventOut(**vars(e)) for e in events],
    )


@router.post(
    "/parked/{attempt_id}/requeue",
    response_model=Requeued,
    summary="Put a parked attempt back in the dial loop, due now",
    responses=responses(401, 403, 404),
)
async def requeue_attempt(attempt_id: Id, request: Request, token: CrmToken) -> Requeued:
    """Its failure count starts again; calling hours, limits and the do-not-call list apply."""
    if not await parking.requeue(_state(request).db, attempt_id):
        raise ApiError(404, "not_found", f"no parked attempt {attempt_id}")
    return Requeued(id=attempt_id, state="scheduled")


@router.post(
    "/parked/events/{event_id}/requeue",
    response_model=Requeued,
    summary="Put a parked webhook event back to be processed",
    responses=responses(401, 403, 404),
)
async def requeue_event(event_id: Id, request: Request, token: CrmToken) -> Requeued:
    """The worker's sweep of stored events picks it up again."""
    if not await parking.requeue_event(_state(request).db, event_id):
        raise ApiError(404, "not_found", f"no parked webhook event {event_id}")
    return Requeued(id=event_id, state="received")
