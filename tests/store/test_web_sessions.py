"""Browser sessions in the database: found only while live, listed with why they ended, purged."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from orchestrator.store.engine import Database
from orchestrator.store.models import WebSession
from orchestrator.store.tokens import create_token, find_token, revoke_token
from orchestrator.store.types import utcnow
from orchestrator.store.web_sessions import (
    KEEP_ENDED,
    find_session,
    list_sessions,
    open_session,
    session_status,
)

HOUR = timedelta(hours=1)


async def test_live_until_it_ends_and_listed_with_why(db: Database) -> None:
    now = utcnow()
    async with db.session() as s:
        issued = await create_token(s, "boss", "supervisor")
        token = await find_token(s, issued.secret)
        assert token is not None and token.id is not None
        raw = await open_session(s, token, HOUR, now=now)
    async with db.read() as s:
        assert await find_session(s, raw, HOUR, now=now + HOUR / 2) is not None
        assert await find_session(s, raw, HOUR / 4, now=now + HOUR / 2) is None  # idle
        assert await find_session(s, raw, 2 * HOUR, now=now + HOUR) is None  # absolute
        assert await find_session(s, issued.secret, HOUR, now=now) is None  # a token is no id
        [(session, owner)] = await list_sessions(s)
    assert session_status(session, owner, HOUR, now=now) == "active"
    assert session_status(session, owner, HOUR / 4, now=now + HOUR / 2) == "idle"
    assert session_status(session, owner, 2 * HOUR, now=now + HOUR) == "expired"
    async with db.session() as s:
        assert await revoke_token(s, token.id)
    async with db.read() as s:
        assert await find_session(s, raw, HOUR, now=now) is None
        [(session, owner)] = await list_sessions(s)
    assert session_status(session, owner, HOUR, now=now) == "revoked"


async def test_long_expired_sessions_are_purged_on_the_next_sign_in(db: Database) -> None:
    now = utcnow()
    async with db.session() as s:
        issued = await create_token(s, "boss", "supervisor")
        token = await find_token(s, issued.secret)
        assert token is not None
        await open_session(s, token, HOUR, now=now - KEEP_ENDED - 2 * HOUR)
        await open_session(s, token, HOUR, now=now - KEEP_ENDED + 2 * HOUR)
        await open_session(s, token, HOUR, now=now)
    async with db.read() as s:
        assert len((await s.exec(select(WebSession))).all()) == 2
