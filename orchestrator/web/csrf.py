"""CSRF protection for browser forms: a synchronizer token derived from a cookie the page holds.

Every form that changes anything carries a hidden `csrf_token` (scripts may send the
`X-CSRF-Token` header instead). A request with an unsafe method is admitted only when that token
equals HMAC-SHA256 keyed by the value of the cookie the form belongs to: the session cookie for a
signed-in page's forms, a pre-session cookie for the sign-in form. Those cookies are HttpOnly and
SameSite=Strict, so another site can neither read them nor compute the token; a token of an
earlier session (or none) is stale. Nothing is stored: the token is derived on each request.

Use `Annotated[None, Depends(require_csrf(COOKIE))]` on every route with an unsafe method.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

from fastapi import Request

from orchestrator.errors import CsrfRefused

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PURPOSE = b"orchestrator csrf v1"


def csrf_token(cookie_value: str) -> str:
    """The token the forms of a page holding `cookie_value` carry (reveals nothing of it)."""
    key = cookie_value.encode("utf-8", "surrogatepass")
    return hmac.new(key, _PURPOSE, hashlib.sha256).hexdigest()


async def _submitted(request: Request) -> str | None:
    header = request.headers.get(HEADER)
    if header:
        return header
    kind = request.headers.get("content-type", "")
    if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(FIELD)  # parsed once, reused by Form() parameters
        return value if isinstance(value, str) else None
    return None


def require_csrf(cookie: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency refusing (`CsrfRefused`) an unsafe request whose token is not `cookie`'s."""

    async def check(request: Request) -> None:
        if request.method in SAFE_METHODS:
            return
        secret = request.cookies.get(cookie)
        given = await _submitted(request)
        if not secret or not given:
            raise CsrfRefused("the form carried no security token; reload the page and retry")
        expected = csrf_token(secret).encode()
        if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected):
            raise CsrfRefused("the form's security token is stale; reload the page and retry")

    return check
