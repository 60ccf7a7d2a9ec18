"""Campaigns over HTTP: create, change (JSON merge patch), read, pause, resume, cancel.

`{campaign}` in a path is the numeric id or the unique name. Fields are the campaign's own
(agent, phone number, weight) and its policy, written flat (`intake/campaign_spec.py`); each
invalid one is named in a 422 answer.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Request
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.errors import CampaignExists, ValidationFailed
from orchestrator.intake.campaign_spec import (
    CampaignCreate,
    CampaignOut,
    CampaignSaved,
    campaign_out,
    current_fields,
    resolve_create,
    resolve_patch,
    saved,
    signing_warning,
)
from orchestrator.scheduling import control
from orchestrator.store import campaigns as repo
from orchestrator.web.auth import CrmToken, SupervisorToken
from orchestrator.web.deps import State, app_state
from orchestrator.web.idempotency import run_once
from orchestrator.web.problems import ApiError, invalid, responses
from orchestrator.web.routes.contacts import IdempotencyKey, campaign_or_404

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/v1", tags=["campaigns"])


class StatusChange(BaseModel):
    """The campaign's status after a pause, resume or cancel, and the attempts it touched."""

    campaign: str
    status: str
    attempts: int


@router.post(
    "/campaigns",
    status_code=201,
    response_model=CampaignSaved,
    summary="Create a campaign",
    responses=responses(401, 403, 409, 413, 422),
)
async def create(
    state: State,
    payload: CampaignCreate,
    request: Request,
    token: CrmToken,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Agent and number default to the configured ones; the policy to the defaults (retry from
    the settings). An unknown persona, or one overriding what the campaign does not allow, is
    refused. `warnings` names fields stored as given that will not act as written (calling
    hours beyond the legal hours are cut to them)."""
    body = await request.body()
    try:
        name, columns, config = resolve_create(json.loads(body), state.settings)
    except ValidationFailed as exc:
        raise invalid(exc) from None
    _warn_unsigned(name, config)

    async def work(s: AsyncSession) -> tuple[int, dict[str, Any]]:
        try:
            campaign = await repo.create_campaign(s, name, config=config, **columns)
        except CampaignExists as exc:
            raise ApiError(409, "conflict", str(exc)) from None
        return 201, saved(campaign, state.settings).model_dump(mode="json")

    return await run_once(request, token, body, work, idempotency_key)


@router.get(
    "/campaigns",
    response_model=list[CampaignOut],
    summary="List campaigns",
    responses=responses(401, 403),
)
async def list_all(request: Request, token: SupervisorToken, state: State) -> list[CampaignOut]:
    """Every campaign, oldest first."""
    async with state.db.read() as s:
        return [campaign_out(c) for c in await repo.list_campaigns(s)]


@router.get(
    "/campaigns/{campaign}",
    response_model=CampaignOut,
    summary="One campaign",
    responses=responses(401, 403, 404),
)
async def get_one(
    campaign: str,
    request: Request,
    token: SupervisorToken,
    state: State,
) -> CampaignOut:
    """The campaign by id or name."""
    async with state.db.read() as s:
        return campaign_out(await campaign_or_404(s, campaign))


@router.patch(
    "/campaigns/{campaign}",
    response_model=CampaignSaved,
    summary="Change a campaign (JSON merge patch)",
    responses=responses(401, 403, 404, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/merge-patch+json": {
                    "schema": {"$ref": "#/components/schemas/CampaignFields"}
                },
                "application/json": {"schema": {"$ref": "#/components/schemas/CampaignFields"}},
            },
        }
    },
)
async def update(
    state: State,
    campaign: str,
    request: Request,
    token: CrmToken,
    patch: Annotated[dict[str, Any], Body()],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Only the fields given change; nested objects merge; `null` resets a field to its
    default. The name cannot change. `warnings` as for create."""

    async def work(s: AsyncSession) -> tuple[int, dict[str, Any]]:
        found = await campaign_or_404(s, campaign)
        try:
            columns, config = resolve_patch(current_fields(found), patch, state.settings)
        except ValidationFailed as exc:
            raise invalid(exc) from None
        _warn_unsigned(found.name, config)
        stored = await repo.update_campaign(s, found, config=config, **columns)
        return 200, saved(stored, state.settings).model_dump(mode="json")

    return await run_once(request, token, await request.body(), work, idempotency_key)


def _warn_unsigned(name: str, config: dict[str, Any]) -> None:
    """Outside prod a campaign may notify a CRM unsigned (prod refuses it): say so loudly."""
    problem = signing_warning(config)
    if problem:
        log.warning("campaign.notifications_unsigned", campaign=name, problem=problem)


async def _control(request: Request, ref: str, action: str) -> StatusChange:
    state = app_state(request)
    async with state.db.read() as s:
        found = await campaign_or_404(s, ref)
    change = {
        "pause": control.pause_campaign,
        "resume": control.resume_campaign,
        "cancel": control.cancel_campaign,
    }[action]
    try:
        attempts = await change(state.db, found)
    except ValidationFailed as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    return StatusChange(campaign=found.name, status=found.status, attempts=attempts)


@router.post(
    "/campaigns/{campaign}/pause",
    response_model=StatusChange,
    summary="Pause: stop dialing; queued calls go back to waiting",
    responses=responses(401, 403, 404, 409),
)
async def pause(campaign: str, request: Request, token: CrmToken) -> StatusChange:
    """Live calls end normally. `attempts`: the pending attempts put on hold."""
    return await _control(request, campaign, "pause")


@router.post(
    "/campaigns/{campaign}/resume",
    response_model=StatusChange,
    summary="Resume a paused campaign",
    responses=responses(401, 403, 404, 409),
)
async def resume(campaign: str, request: Request, token: CrmToken) -> StatusChange:
    """`attempts`: the scheduled attempts that may be dispatched again."""
    return await _control(request, campaign, "resume")


@router.post(
    "/campaigns/{campaign}/cancel",
    response_model=StatusChange,
    summary="Cancel a campaign for good",
    responses=responses(401, 403, 404),
)
async def cancel(campaign: str, request: Request, token: CrmToken) -> StatusChange:
    """Every waiting attempt is canceled; live calls end normally. `attempts`: how many."""
    return await _control(request, campaign, "cancel")


__all__ = ["campaign_out", "router"]
