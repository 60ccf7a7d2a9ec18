"""Bearer-token authentication with scopes: `crm` writes, `supervisor` reads reports.

A missing or unknown token is 401; a valid token without the needed scope is 403; both answer
JSON (`{"error", "reason"}`). Tokens are looked up by their SHA-256 hash, so the database never
holds one in clear.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orchestrator.store.models import ApiToken
from orchestrator.store.tokens import find_token
from orchestrator.web.deps import app_state
from orchestrator.web.problems import ApiError

_bearer = HTTPBearer(auto_error=False, description="A token from `orchestrator tokens create`")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def require_scope(*scopes: str) -> Callable[..., Awaitable[ApiToken]]:
    """A dependency that admits tokens having one of `scopes`."""

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiToken:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(
                401,
                "unauthorized",
                "missing bearer token (Authorization: Bearer <token>)",
                headers=_CHALLENGE,
            )
        state = app_state(request)
        # A read: checking a token must not take the database's write lock.
        async with state.db.quick() as s:
            token = await find_token(s, credentials.credentials)
        if token is None:
            raise ApiError(401, "unauthorized", "unknown or revoked token", headers=_CHALLENGE)
        if token.scope not in scopes:
            raise ApiError(
                403,
                "forbidden",
                f"this route needs scope {' or '.join(scopes)}; the token has {token.scope}",
            )
        return token

    return check


CrmToken = Annotated[ApiToken, Depends(require_scope("crm"))]
SupervisorToken = Annotated[ApiToken, Depends(require_scope("supervisor", "crm"))]
