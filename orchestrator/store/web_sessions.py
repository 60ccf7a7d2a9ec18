"""Browser sessions: a random id given to a browser once, stored only as its SHA-256 hash.

Signing in with a token opens one; it ends when revoked (sign-out, `orchestrator sessions
revoke`, or its token revoked), after `idle` without a request, or at its absolute expiry. Kept
in the database, so a session survives a restart of the web process and works on every one of
several, and it can be listed and revoked from the command line.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.store.models import ApiToken, WebSession
from orchestrator.store.types import utcnow


def hash_session_id(raw: str) -> str:
    """The stored form of a session id (the id itself is only ever in the browser's cookie)."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class LiveSession:
    """A live session and the token it was opened with."""

    session: WebSession
    token: ApiToken


#: Sessions are kept this long past their expiry (for `orchestrator sessions list`), then deleted.
KEEP_ENDED = timedelta(days=30)


async def open_session(
    s: AsyncSession, token: ApiToken, lifetime: timedelta, *, now: datetime | None = None
) -> str:
    """Open a session for `token` ending at the latest after `lifetime`; its raw id, shown once.

    Sessions that expired more than `KEEP_ENDED` ago are deleted on the way, so the table stays
    as small as the sign-ins of the last weeks.
    """
    assert token.id is not None
    raw = secrets.token_urlsafe(32)
    start = now or utcnow()
    old: Any = delete(WebSession).where(col(WebSession.expires_at) < start - KEEP_ENDED)
    await s.exec(old)
    s.add(
        WebSession(
            token_id=token.id,
            id_hash=hash_session_id(raw),
            created_at=start,
            last_seen_at=start,
            expires_at=start + lifetime,
        )
    )
    await s.flush()
    return raw


async def find_session(
    s: AsyncSession, raw: str, idle: timedelta, *, now: datetime | None = None
) -> LiveSession | None:
    """The live session with id `raw` and its live token, or None (unknown or ended)."""
    at = now or utcnow()
    row = (
        await s.exec(
            select(WebSession, ApiToken)
            .join(ApiToken, col(ApiToken.id) == col(WebSession.token_id))
            .where(
                WebSession.id_hash == hash_session_id(raw),
                col(WebSession.revoked_at).is_(None),
                col(ApiToken.revoked_at).is_(None),
                col(WebSession.expires_at) > at,
                col(WebSession.last_seen_at) > at - idle,
            )
        )
    ).first()
    return LiveSession(*row) if row is not None else None


async def touch_session(s: AsyncSession, session_id: int, *, now: datetime | None = None) -> None:
    """Record a request of the session (what the idle limit counts from)."""
    stmt = (
        update(WebSession)
        .where(col(WebSession.id) == session_id)
        .values(last_seen_at=now or utcnow())
    )
    await s.exec(stmt)


async def revoke_session(s: AsyncSession, session_id: int) -> bool:
    """End one session; False when there is no such live (not revoked) session."""
    row = await s.get(WebSession, session_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    s.add(row)
    return True


async def revoke_by_id(s: AsyncSession, raw: str) -> None:
    """End the session whose raw id is `raw`, if any (sign-out)."""
    stmt = (
        update(WebSession)
        .where(
            col(WebSession.id_hash) == hash_session_id(raw), col(WebSession.revoked_at).is_(None)
        )
        .values(revoked_at=utcnow())
    )
    await s.exec(stmt)


async def revoke_for_token(s: AsyncSession, token_id: int) -> int:
    """End every session opened with the token; how many were live."""
    stmt = (
        update(WebSession)
        .where(col(WebSession.token_id) == token_id, col(WebSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    result: Any = await s.exec(stmt)
    return int(result.rowcount or 0)


async def list_sessions(s: AsyncSession) -> list[tuple[WebSession, ApiToken]]:
    """Every session with its token, newest first (hashes only, never an id)."""
    rows = await s.exec(
        select(WebSession, ApiToken)
        .join(ApiToken, col(ApiToken.id) == col(WebSession.token_id))
        .order_by(col(WebSession.id).desc())
    )
    return [(session, token) for session, token in rows.all()]


def session_status(
    session: WebSession, token: ApiToken, idle: timedelta, *, now: datetime | None = None
) -> str:
    """`active`, or why the session has ended: `revoked`, `token revoked`, `expired`, `idle`."""
    at = now or utcnow()
    if session.revoked_at is not None:
        return "revoked"
    if token.revoked_at is not None:
        return "token revoked"
    if session.expires_at <= at:
        return "expired"
    if session.last_seen_at <= at - idle:
        return "idle"
    return "active"
