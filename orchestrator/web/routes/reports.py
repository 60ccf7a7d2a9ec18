"""Reports over HTTP for supervisors: JSON and CSV, one campaign or all, and the CRM export.

`{campaign}` is the numeric id or the name. `since`/`until` (ISO dates or date-times) limit a
report to the calls dialled in the range; a malformed or inverted range is a 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from orchestrator.errors import PricingError, ValidationFailed
from orchestrator.reports.build import ReportConfig, build_report
from orchestrator.reports.export import contacts_csv, report_csv
from orchestrator.reports.live import live_calls
from orchestrator.reports.model import Report
from orchestrator.reports.scope import make_scope
from orchestrator.store import campaigns
from orchestrator.web.auth import SupervisorToken
from orchestrator.web.deps import State, app_state
from orchestrator.web.problems import ApiError, invalid, responses
from orchestrator.web.state import AppState

router = APIRouter(prefix="/v1", tags=["reports"])

Since = Annotated[
    str | None,
    Query(
        description="Only calls dialled from this ISO date (UTC day) or date-time",
        examples=["2025-03-01"],
    ),
]
Until = Annotated[
    str | None,
    Query(
        description="…up to this ISO date (inclusive) or date-time (exclusive)",
        examples=["2025-03-31"],
    ),
]


async def campaign_name(state: AppState, ref: str) -> str:
    """The name of the campaign `ref` (id or name); NotFound (404) otherwise."""
    async with state.db.read() as s:
        return (await campaigns.get_by_ref(s, ref)).name


async def report_for(
    request: Request, campaign: str | None, since: str | None, until: str | None
) -> Report:
    """Build the report the request asks for, mapping bad input to 422 and 404."""
    state = app_state(request)
    try:
        scope = make_scope(campaign, since, until)
    except ValidationFailed as exc:
        raise invalid(exc) from None
    if campaign is not None:
        scope = make_scope(await campaign_name(state, campaign), since, until)
    try:
        config = ReportConfig.from_settings(state.settings)
    except PricingError as exc:
        raise ApiError(500, "pricing_config", str(exc)) from None
    return await build_report(state.db, scope, config)


def _csv(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/reports",
    summary="Report across campaigns",
    responses=responses(401, 403, 422),
)
async def all_campaigns(
    request: Request, token: SupervisorToken, since: Since = None, until: Until = None
) -> JSONResponse:
    """Every campaign together, all time or the calls dialled in a range."""
    return JSONResponse((await report_for(request, None, since, until)).to_dict())


@router.get(
    "/reports.csv",
    summary="Report across campaigns as CSV",
    responses=responses(401, 403, 422),
    response_class=Response,
)
async def all_campaigns_csv(
    request: Request, token: SupervisorToken, since: Since = None, until: Until = None
) -> Response:
    """The cross-campaign report as rows of (section, item, measure, value)."""
    return _csv(report_csv(await report_for(request, None, since, until)), "report.csv")


@router.get(
    "/campaigns/{campaign}/report",
    summary="A campaign's report",
    responses=responses(401, 403, 404, 422),
)
async def one_campaign(
    campaign: str,
    request: Request,
    token: SupervisorToken,
    since: Since = None,
    until: Until = None,
) -> JSONResponse:
    """Dispositions, attempts, rates, durations, cost, data collected, hours, utilization."""
    return JSONResponse((await report_for(request, campaign, since, until)).to_dict())


@router.get(
    "/campaigns/{campaign}/report.csv",
    summary="A campaign's report as CSV",
    responses=responses(401, 403, 404, 422),
    response_class=Response,
)
async def one_campaign_csv(
    campaign: str,
    request: Request,
    token: SupervisorToken,
    since: Since = None,
    until: Until = None,
) -> Response:
    """The campaign's report as rows of (section, item, measure, value)."""
    report = await report_for(request, campaign, since, until)
    return _csv(report_csv(report), f"report-{report.campaign}.csv")


@router.get(
    "/campaigns/{campaign}/contacts.csv",
    summary="Every contact's result as CSV (for the CRM)",
    responses=responses(401, 403, 404),
    response_class=StreamingResponse,
)
async def contacts_export(
    campaign: str,
    request: Request,
    token: SupervisorToken,
    state: State,
) -> Any:
    """One line per contact: disposition, attempts, last outcome, summary, collected data."""
    name = await campaign_name(state, campaign)
    pages = await contacts_csv(state.db, name)
    return StreamingResponse(
        pages,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="contacts-{name}.csv"'},
    )


@router.get(
    "/live", summary="Calls in flight and campaigns' progress", responses=responses(401, 403)
)
async def live(request: Request, token: SupervisorToken, state: State) -> JSONResponse:
    """Calls in flight against the limit (burst apart), from Redis or else the database."""
    return JSONResponse((await live_calls(state.db, state.queue, state.settings)).to_dict())
