"""One call now: `POST /v1/calls`, and its state: `GET /v1/calls/{attempt_id}`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.domain.campaign_policy import policy_of
from orchestrator.errors import CallRefused, ValidationFailed
from orchestrator.intake.calls import check_call_values, schedule_call
from orchestrator.intake.rows import RowRules, validate_row
from orchestrator.intake.schema import CallIn
from orchestrator.store.models import Attempt, Campaign, Contact
from orchestrator.web.auth import CrmToken, SupervisorToken
from orchestrator.web.deps import State
from orchestrator.web.idempotency import run_once
from orchestrator.web.problems import ApiError, invalid, responses
from orchestrator.web.routes.contacts import IdempotencyKey, campaign_or_404, secret_box

router = APIRouter(prefix="/v1", tags=["calls"])


class CallAccepted(BaseModel):
    """The call is scheduled: the attempt that will place it."""

    attempt_id: int
    contact_id: int
    contact: str = Field(description="What the row did to the contact: accepted|updated|unchanged")
    state: str = "scheduled"
    due_at: datetime
    campaign_status: str = Field(description="A paused campaign holds the call until resumed")


class CallState(BaseModel):
    """Where one call stands."""

    attempt_id: int
    campaign: str
    external_id: str
    seq: int
    state: str
    due_at: datetime
    dial_started_at: datetime | None
    ended_at: datetime | None
    conversation_id: str | None
    call_successful: str | None
    error: str | None


@router.post(
    "/calls",
    status_code=202,
    response_model=CallAccepted,
    summary="Call one contact now",
    responses=responses(401, 403, 404, 409, 413, 422),
)
async def call_now(
    state: State,
    payload: CallIn,
    request: Request,
    token: CrmToken,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Upsert the contact (the same row as a bulk push) and schedule a call due now, with
    `call` values for this call only. A contact the campaign has needs only its `external_id`;
    the fields given change it, the rest is kept (variables merge by name). Calling hours, the
    do-not-call list and concurrency still apply. A number on the do-not-call list, or a contact
    already being called, is a 409."""
    row_fields = payload.model_dump(exclude={"campaign", "call"}, exclude_unset=True)
    # Everything is checked before the write transaction, which then only writes.
    async with state.db.read() as s:
        campaign = await campaign_or_404(s, payload.campaign)
    rules = RowRules.for_campaign(state.settings, campaign.agent_id, policy_of(campaign.config))
    problems: list[tuple[str, str]] = []
    row = call_data = None
    try:
        row = validate_row(row_fields, rules)
    except ValidationFailed as exc:
        problems.extend(exc.problems)
    try:
        call_data = check_call_values(payload.call, rules)
    except ValidationFailed as exc:
        problems.extend(exc.problems)
    if problems or row is None or call_data is None:
        raise invalid(ValidationFailed(problems))

    async def work(s: AsyncSession) -> tuple[int, dict[str, Any]]:
        assert row is not None and call_data is not None
        try:
            done = await schedule_call(s, campaign, row, call_data, secret_box(request))
        except ValidationFailed as exc:
            raise invalid(exc) from None
        except CallRefused as exc:
            raise ApiError(409, exc.code, str(exc)) from None
        answer = CallAccepted(
            attempt_id=done.attempt_id,
            contact_id=done.contact_id,
            contact=done.contact_result.value,
            due_at=done.due_at,
            campaign_status=done.campaign_status,
        )
        return 202, answer.model_dump(mode="json")

    return await run_once(request, token, await request.body(), work, idempotency_key)


@router.get(
    "/calls/{attempt_id}",
    response_model=CallState,
    summary="Where one call stands",
    responses=responses(401, 403, 404, 422),
)
async def get_call(
    attempt_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="The attempt's id")],
    request: Request,
    token: SupervisorToken,
    state: State,
) -> CallState:
    """The attempt's state and, once known, its conversation and outcome."""
    async with state.db.read() as s:
        attempt = await s.get(Attempt, attempt_id)
        if attempt is None:
            raise ApiError(404, "not_found", f"unknown call {attempt_id}")
        contact = await s.get(Contact, attempt.contact_id)
        campaign = await s.get(Campaign, attempt.campaign_id)
    assert contact is not None and campaign is not None and attempt.id is not None
    return CallState(
        attempt_id=attempt.id,
        campaign=campaign.name,
        external_id=contact.external_id,
        seq=attempt.seq,
        state=attempt.state,
        due_at=attempt.due_at,
        dial_started_at=attempt.dial_started_at,
        ended_at=attempt.ended_at,
        conversation_id=attempt.conversation_id,
        call_successful=attempt.call_successful,
        error=attempt.error,
    )
