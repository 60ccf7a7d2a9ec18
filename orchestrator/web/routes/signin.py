"""Signing in and out of the browser pages: a token once (the form), then a server-side session.

Only `SIGN_IN_SCOPES` open a session: the dashboard is for supervisors, and a `crm` token (which
writes) is refused with a message saying so. Both forms are CSRF-checked: the sign-in form with
its pre-session token, sign-out with the session's.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from orchestrator.errors import AccessDenied
from orchestrator.store.tokens import find_token
from orchestrator.web.deps import State
from orchestrator.web.pages import page_headers, refuse_token_in_address, sign_in_page
from orchestrator.web.sessions import PATH, SessionCsrf, SignInCsrf, end_session, start_session

router = APIRouter(
    tags=["dashboard"], include_in_schema=False, dependencies=[Depends(refuse_token_in_address)]
)

#: The token scopes a browser may sign in with.
SIGN_IN_SCOPES = ("supervisor",)


@router.get(f"{PATH}/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    """The sign-in form (also to switch tokens while signed in)."""
    return sign_in_page(request, 200, "Sign in with a supervisor token.")


@router.post(f"{PATH}/login")
async def login(
    state: State,
    request: Request,
    _csrf: SignInCsrf,
    token: Annotated[str, Form(max_length=500)],
    campaign: Annotated[str | None, Form(max_length=200)] = None,
) -> Response:
    """Check the token once and open a session; the browser keeps only the session's id."""
    secret = token.strip()
    found = None
    if secret:
        async with state.db.quick() as s:
            found = await find_token(s, secret)
    if found is None:
        raise AccessDenied(401, "That token is unknown or revoked.")
    if found.scope not in SIGN_IN_SCOPES:
        raise AccessDenied(
            403,
            f"A {found.scope} token cannot open the dashboard (it is for the CRM's API); "
            "sign in with a supervisor token.",
        )
    target = PATH + (f"?campaign={quote(campaign)}" if campaign else "")
    response = RedirectResponse(target, status_code=303, headers=page_headers())
    await start_session(request, response, found)
    return response


@router.post(f"{PATH}/logout")
async def logout(request: Request, _csrf: SessionCsrf) -> Response:
    """End the session here and in the database."""
    response = RedirectResponse(PATH, status_code=303, headers=page_headers())
    await end_session(request, response)
    return response
