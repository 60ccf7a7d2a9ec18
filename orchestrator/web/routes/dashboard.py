"""The supervisor dashboard at `/dashboard`: live calls, campaigns' progress, one report.

Browsers cannot send a bearer header on a page load, so a supervisor signs in once with the
form (`routes/signin.py`) and holds a server-side session (`web/sessions.py`); the page never
contains a token. The page refreshes itself: a small inline script (allowed by a per-response
CSP nonce, nothing else may run) fetches `/dashboard/fragment` every few seconds and swaps the
content. Every number is rendered from the same `build_report` as the JSON API.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.reports.html import document, live_body, report_body
from orchestrator.reports.live import LiveCalls, live_calls
from orchestrator.web.csrf import FIELD
from orchestrator.web.deps import app_state
from orchestrator.web.pages import page_headers, refuse_token_in_address
from orchestrator.web.problems import ApiError
from orchestrator.web.routes.reports import report_for
from orchestrator.web.sessions import PATH, SupervisorSession

router = APIRouter(
    tags=["dashboard"], include_in_schema=False, dependencies=[Depends(refuse_token_in_address)]
)

REFRESH_SECS = 5

_SCRIPT = """
(function(){var box=document.getElementById('content'),stamp=document.getElementById('stamp');
function tick(){fetch('/dashboard/fragment'+location.search,{credentials:'same-origin',
cache:'no-store'}).then(function(r){if(r.status===401||r.status===403){location.reload();return;}
if(!r.ok){throw new Error(r.status);}return r.text();}).then(function(html){if(html===undefined)
return;box.innerHTML=html;stamp.textContent='updated '+new Date().toLocaleTimeString();
stamp.dataset.refreshed=String(Number(stamp.dataset.refreshed||0)+1);})
.catch(function(){stamp.textContent='offline, retrying';});}
setInterval(tick,%d);})();
"""


async def _content(request: Request, campaign: str | None) -> str:
    state = app_state(request)
    live: LiveCalls = await live_calls(state.db, state.queue, state.settings)
    names = [c.name for c in live.campaigns]
    if campaign is None and names:
        # The campaign with calls in flight, else the newest one.
        busy = [c.name for c in live.campaigns if c.live]
        campaign = busy[0] if busy else names[-1]
    try:
        report = await report_for(request, campaign, None, None)
    except (NotFound, ValidationFailed, ApiError):
        report = await report_for(request, None, None, None)
    return live_body(live, report.campaign) + report_body(report)


@router.get(PATH, response_class=HTMLResponse)
async def dashboard(
    request: Request, session: SupervisorSession, campaign: str | None = None
) -> Response:
    """The page (the sign-in page without a live supervisor session)."""
    nonce = secrets.token_urlsafe(16)
    header = (
        '<span class="mute" id="stamp" data-refreshed="0">live, refreshes every '
        f'{REFRESH_SECS} s</span><form method="post" action="{PATH}/logout" '
        f'style="margin-left:auto"><input type="hidden" name="{FIELD}" value="{session.csrf}">'
        '<button type="submit">Sign out</button></form>'
    )
    page = document(
        "Call orchestrator — supervisor",
        await _content(request, campaign),
        header=header,
        script=_SCRIPT % (REFRESH_SECS * 1000),
        nonce=nonce,
    )
    return HTMLResponse(page, headers=page_headers(nonce))


@router.get(f"{PATH}/fragment", response_class=HTMLResponse)
async def fragment(
    request: Request, session: SupervisorSession, campaign: str | None = None
) -> Response:
    """The page's content alone, for the refresh."""
    return HTMLResponse(await _content(request, campaign), headers=page_headers())
