"""Browser sessions for the HTML pages: sign in with a token once, then hold a random session id.

The browser keeps only the session id, in a cookie that is HttpOnly, SameSite=Strict, limited to
`PATH`, and `Secure` when the page is served over https (the request's scheme, which uvicorn takes
from `X-Forwarded-Proto` of a trusted proxy, or an https `ORCH_PUBLIC_URL`). The database keeps
only the id's hash (`store/web_sessions.py`); the id is never logged. Strict, not Lax: nothing
links into the pages from elsewhere, so no cross-site navigation needs the cookie.

Reusable FastAPI dependencies for every page and form of the browser area:
- `session_of(*scopes)` admits a live session whose token has one of `scopes`, else raises
  `AccessDenied` (rendered as the sign-in page by `web/pages.py`); `SupervisorSession` is the
  dashboard's.
- `SessionCsrf` guards every route with an unsafe method (see `web/csrf.py`); the session's
  forms carry `BrowserSession.csrf`.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request, Response

from orchestrator.errors import AccessDenied
from orchestrator.store.models import ApiToken
from orchestrator.store.types import utcnow
from orchestrator.store.web_sessions import (
    find_session,
    open_session,
    revoke_by_id,
    touch_session,
)
from orchestrator.web.csrf import csrf_token, require_csrf
from orchestrator.web.deps import app_state
from orchestrator.web.state import AppState

#: The session cookie, and the sign-in form's pre-session cookie (its CSRF token's key).
COOKIE = "orch_session"
PRE_COOKIE = "orch_signin"
#: Before sessions, this cookie held the raw token: it is never read, and cleared at sign-in.
LEGACY_COOKIE = "orch_dashboard"
#: Every browser page lives under this path, and so do its cookies.
PATH = "/dashboard"
#: A session's last request is written at most this often (the page refreshes every few seconds).
TOUCH_SECS = 60
_PRE_COOKIE_SECS = 24 * 3600


@dataclass(frozen=True)
class BrowserSession:
    """A signed-in browser: its session, the token it signed in with, its forms' CSRF token."""

    id: int
    token_id: int
    token_name: str
    scope: str
    csrf: str


def _state(request: Request) -> AppState:
    return app_state(request)


def over_https(request: Request) -> bool:
    """True when the browser reached us over https (directly, through a proxy, or by config)."""
    public = _state(request).settings.public_url.strip().lower()
    return request.url.scheme == "https" or public.startswith("https://")


def _set(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=over_https(request),
        path=PATH,
    )


def _forget(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path=PATH, httponly=True, samesite="strict", secure=over_https(request)
    )


def pre_session(request: Request) -> str:
    """This browser's pre-session value (the sign-in form's CSRF key): its cookie's, else new."""
    value = request.cookies.get(PRE_COOKIE, "")
    return value if 20 <= len(value) <= 100 else secrets.token_urlsafe(32)


def keep_pre_session(request: Request, response: Response, value: str) -> None:
    """Set (or renew) the pre-session cookie on the sign-in page's `response`."""
    _set(request, response, PRE_COOKIE, value, _PRE_COOKIE_SECS)


async def start_session(request: Request, response: Response, token: ApiToken) -> None:
    """Open a session for `token` on `response` (ending this browser's earlier one, if any)."""
    state = _state(request)
    lifetime = state.settings.session_max_secs
    async with state.db.session() as s:
        earlier = request.cookies.get(COOKIE)
        if earlier:
            await revoke_by_id(s, earlier)
        raw = await open_session(s, token, timedelta(seconds=lifetime))
    _set(request, response, COOKIE, raw, int(lifetime))
    _forget(request, response, PRE_COOKIE)
    if LEGACY_COOKIE in request.cookies:
        _forget(request, response, LEGACY_COOKIE)


async def end_session(request: Request, response: Response) -> None:
    """Revoke this browser's session and clear its cookie."""
    raw = request.cookies.get(COOKIE)
    if raw:
        async with _state(request).db.session() as s:
            await revoke_by_id(s, raw)
    _forget(request, response, COOKIE)


def session_of(*scopes: str) -> Callable[[Request], Awaitable[BrowserSession]]:
    """A dependency admitting a live session whose token has one of `scopes`."""

    async def check(request: Request) -> BrowserSession:
        raw = request.cookies.get(COOKIE)
        if not raw:
            raise AccessDenied(401, f"Sign in with a {' or '.join(scopes)} token.")
        state = _state(request)
        idle = timedelta(seconds=state.settings.session_idle_secs)
        now = utcnow()
        async with state.db.quick() as s:
            live = await find_session(s, raw, idle, now=now)
        if live is None:
            raise AccessDenied(
                401, "Your session has ended (signed out, expired or revoked); sign in again."
            )
        session, token = live.session, live.token
        assert session.id is not None and token.id is not None
        if token.scope not in scopes:
            raise AccessDenied(
                403, f"A {token.scope} token cannot open this page; it needs {' or '.join(scopes)}."
            )
        if (now - session.last_seen_at).total_seconds() >= TOUCH_SECS:
            async with state.db.session() as s:
                await touch_session(s, session.id, now=now)
        return BrowserSession(session.id, token.id, token.name, token.scope, csrf_token(raw))

    return check


SupervisorSession = Annotated[BrowserSession, Depends(session_of("supervisor"))]
#: Every unsafe request of a signed-in page: its form's token must be this session's.
SessionCsrf = Annotated[None, Depends(require_csrf(COOKIE))]
#: The sign-in form: its token must be this browser's pre-session one.
SignInCsrf = Annotated[None, Depends(require_csrf(PRE_COOKIE))]
