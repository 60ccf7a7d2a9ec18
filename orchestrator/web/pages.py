"""What every browser page shares: security headers, the sign-in page, and its error handlers.

A request without a live session (`AccessDenied`), or an unsafe one without its form's token
(`CsrfRefused`, 403), is answered with the sign-in page; the page sets the pre-session cookie its
form's CSRF token is keyed by. A token in a page's address is refused (400) and never used:
addresses end up in logs, proxies and browser history.
"""

from __future__ import annotations

from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from orchestrator.errors import AccessDenied, CsrfRefused
from orchestrator.reports.html import document
from orchestrator.web.csrf import FIELD, csrf_token
from orchestrator.web.sessions import PATH, keep_pre_session, pre_session


def page_headers(nonce: str = "") -> dict[str, str]:
    """Headers of every page: a CSP allowing only the page's own nonce script, no caching."""
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


def sign_in_page(request: Request, status: int, message: str) -> HTMLResponse:
    """The sign-in form with `message`, keeping the campaign the address asked for."""
    pre = pre_session(request)
    campaign = request.query_params.get("campaign", "")
    keep = (
        f'<input type="hidden" name="campaign" value="{escape(campaign)}">'
        if campaign and len(campaign) <= 200
        else ""
    )
    form = f"""<section><h2>Sign in</h2><p class="mute" id="message">{escape(message)}</p>
<form method="post" action="{PATH}/login"><label>Supervisor token<br>
<input name="token" type="password" autocomplete="off" required
 style="width:100%;max-width:28rem"></label>
<input type="hidden" name="{FIELD}" value="{csrf_token(pre)}">{keep}
<p><button type="submit">Open the dashboard</button></p></form>
<p class="mute">Create one with
<code>orchestrator tokens create --scope supervisor</code>. A crm token cannot open the
dashboard.</p></section>"""
    response = HTMLResponse(
        document("Call orchestrator", form), status_code=status, headers=page_headers()
    )
    keep_pre_session(request, response, pre)
    return response


async def refuse_token_in_address(request: Request) -> None:
    """A router dependency: `?token=` is never accepted (it would be logged); say so."""
    if "token" in request.query_params:
        raise AccessDenied(
            400,
            "A token in the address is refused: addresses are kept in logs and browser history. "
            "Sign in with the form (and consider revoking a token that was sent in an address).",
        )


def install(app: FastAPI) -> None:
    """Answer the browser area's refusals with the sign-in page."""

    async def sign_in(request: Request, exc: Exception) -> HTMLResponse:
        assert isinstance(exc, AccessDenied)
        return sign_in_page(request, exc.status, exc.message)

    async def csrf(request: Request, exc: Exception) -> HTMLResponse:
        assert isinstance(exc, CsrfRefused)
        return sign_in_page(request, 403, f"PersonalizationRefused: {exc.reason}.")

    app.add_exception_handler(AccessDenied, sign_in)
    app.add_exception_handler(CsrfRefused, csrf)
