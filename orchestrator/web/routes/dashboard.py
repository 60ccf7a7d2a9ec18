"""The supervisor dashboard at `/dashboard`: live calls, campaigns' progress, one report.

Browsers cannot send a bearer header on a page load, so the token is given once, as
`/dashboard?token=...` or through the login form, and kept in an HttpOnly, SameSite=Strict
cookie; the page never contains it. The page refreshes itself: a small inline script (allowed
by a per-response CSP nonce, nothing else may run) fetches `/dashboard/fragment` every few
seconds and swaps the content. Every number is rendered from the same `build_report` as the
JSON API.
"""

from __future__ import annotations

import secrets
from html import escape
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.reports.html import document, live_body, report_body
from orchestrator.reports.live import LiveCalls, live_calls
from orchestrator.store.tokens import find_token
from orchestrator.web.problems import ApiError
from orchestrator.web.routes.reports import report_for
from orchestrator.web.state import AppState

router = APIRouter(tags=["dashboard"], include_in_schema=False)

COOKIE = "orch_dashboard"
SCOPES = ("supervisor", "crm")
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


def _headers(nonce: str = "") -> dict[str, str]:
    script = f"'nonce-{nonce}'" if nonce else "'none'"
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'unsafe-inline'; script-src {script}; "
            "connect-src 'self'; img-src 'self' data:; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


def _login(status: int, message: str) -> HTMLResponse:
    form = f"""<section><h2>Sign in</h2><p class="mute">{escape(message)}</p>
<form method="post" action="/dashboard/login"><label>Supervisor token<br>
<input name="token" type="password" autocomplete="off" required
 style="width:100%;max-width:28rem"></label>
<p><button type="submit">Open the dashboard</button></p></form>
<p class="mute">Create one with
<code>orchestrator tokens create --scope supervisor NAME</code>.</p></section>"""
    return HTMLResponse(document("Call orchestrator", form), status_code=status, headers=_headers())


async def _check(request: Request, secret: str | None) -> HTMLResponse | None:
    """None when `secret` is a live token with a reporting scope, else the page to show."""
    if not secret:
        return _login(401, "Sign in with a supervisor token.")
    state: AppState = request.app.state.orch
    async with state.db.read() as s:
        token = await find_token(s, secret)
    if token is None:
        return _login(401, "That token is unknown or revoked.")
    if token.scope not in SCOPES:
        return _login(403, f"A token with scope {token.scope} cannot read reports.")
    return None


def _signed_in(request: Request, secret: str, target: str) -> RedirectResponse:
    response = RedirectResponse(target, status_code=303, headers=_headers())
    response.set_cookie(
        COOKIE,
        secret,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/dashboard",
    )
    return response


async def _content(request: Request, campaign: str | None) -> str:
    state: AppState = request.app.state.orch
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


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    token: Annotated[str | None, Query(description="A supervisor token, given once")] = None,
    campaign: str | None = None,
) -> Response:
    """The page; `?token=` signs in and redirects to a URL without it."""
    if token is not None:
        refused = await _check(request, token)
        if refused is not None:
            return refused
        target = "/dashboard" + (f"?campaign={quote(campaign)}" if campaign else "")
        return _signed_in(request, token, target)
    refused = await _check(request, request.cookies.get(COOKIE))
    if refused is not None:
        return refused
    nonce = secrets.token_urlsafe(16)
    header = (
        '<span class="mute" id="stamp" data-refreshed="0">live, refreshes every '
        f'{REFRESH_SECS} s</span><form method="post" action="/dashboard/logout" '
        'style="margin-left:auto"><button type="submit">Sign out</button></form>'
    )
    page = document(
        "Call orchestrator — supervisor",
        await _content(request, campaign),
        header=header,
        script=_SCRIPT % (REFRESH_SECS * 1000),
        nonce=nonce,
    )
    return HTMLResponse(page, headers=_headers(nonce))


@router.get("/dashboard/fragment", response_class=HTMLResponse)
async def fragment(request: Request, campaign: str | None = None) -> Response:
    """The page's content alone, for the refresh."""
    refused = await _check(request, request.cookies.get(COOKIE))
    if refused is not None:
        return refused
    return HTMLResponse(await _content(request, campaign), headers=_headers())


@router.post("/dashboard/login")
async def login(request: Request, token: Annotated[str, Form()]) -> Response:
    """Sign in with the form."""
    refused = await _check(request, token.strip())
    return refused or _signed_in(request, token.strip(), "/dashboard")


@router.post("/dashboard/logout")
async def logout() -> Response:
    """Forget the token."""
    response = RedirectResponse("/dashboard", status_code=303, headers=_headers())
    response.delete_cookie(COOKIE, path="/dashboard")
    return response
