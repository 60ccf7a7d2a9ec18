"""API tokens: random secrets shown once, stored as SHA-256 hashes, each with one scope."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.domain.text import text_problem
from orchestrator.store.models import ApiToken
from orchestrator.store.types import utcnow
from orchestrator.store.web_sessions import revoke_for_token

SCOPES = ("crm", "supervisor")
_PREFIX = "orch_"


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A new token: `secret` is shown once and never stored."""

    id: int
    name: str
    scope: str
    secret: str


async def create_token(s: AsyncSession, name: str, scope: str) -> IssuedToken:
    """Issue a token with `scope` (`crm` or `supervisor`).

    Raises:
        ValueError: unknown scope, or a name that is not text we can carry (or too long).
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")
    reason = text_problem(name) or ("longer than 200 characters" if len(name) > 200 else None)
    if reason:
        raise ValueError(f"name: {reason}")
    secret = _PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, scope=scope, token_hash=hash_token(secret), prefix=secret[:10])
    s.add(row)
    await s.flush()
    assert row.id is not None
    return IssuedToken(row.id, name, scope, secret)


async def find_token(s: AsyncSession, secret: str) -> ApiToken | None:
    """The live token matching `secret`, or None (unknown or revoked)."""
    row = (
        await s.exec(
            select(ApiToken).where(
                ApiToken.token_hash == hash_token(secret), col(ApiToken.revoked_at).is_(None)
            )
        )
    ).first()
    return row


async def revoke_token(s: AsyncSession, token_id: int) -> bool:
    """Revoke a token and end the browser sessions opened with it; False when no such live token."""
    row = await s.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    s.add(row)
    await revoke_for_token(s, token_id)
    return True


async def list_tokens(s: AsyncSession) -> list[ApiToken]:
    """Every token, newest first (hashes only)."""
    return list((await s.exec(select(ApiToken).order_by(col(ApiToken.id).desc()))).all())
