"""`Idempotency-Key`: a request repeated with the same key gets the first answer again.

The key is scoped to the token. The request's fingerprint (method, path, body) is stored with the
answer, in the same transaction as the work the request did, so a retry after a lost answer never
applies anything twice: same key and same request → the stored answer is replayed (header
`Idempotent-Replayed: true`); same key and another request → 422 naming the conflict. Answers
are kept for `idempotency_ttl_secs`. Without the header, the work simply runs.

On SQLite every write transaction takes the lock up front (`BEGIN IMMEDIATE`), so two requests
with one key run one after the other. On Postgres the loser of a race hits the unique key (or
the contacts' unique key) and is run once more, when it finds and replays the winner's answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.store.models import ApiToken, IdempotencyRecord
from orchestrator.store.types import utcnow
from orchestrator.web.deps import app_state
from orchestrator.web.problems import ApiError
from orchestrator.web.state import AppState

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY = 200

#: The work of a request, in the given transaction: returns (status, JSON body).
Work = Callable[[AsyncSession], Awaitable[tuple[int, dict[str, Any]]]]


def fingerprint(request: Request, body: bytes) -> str:
    """What makes two requests "the same": method, path and body bytes."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.url.path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def _check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise ApiError(
            422,
            "invalid_request",
            problems=[(HEADER, f"1 to {MAX_KEY} printable characters")],
        )
    return key


async def run_once(
    request: Request, token: ApiToken, body: bytes, work: Work, key: str | None
) -> JSONResponse:
    """Run `work` in one transaction, or replay the answer stored under `key`."""
    state = app_state(request)
    if key is None:
        return await _retrying(state, work)
    key = _check_key(key)
    assert token.id is not None
    token_id = token.id
    request_hash = fingerprint(request, body)
    ttl = timedelta(seconds=state.settings.idempotency_ttl_secs)

    async def keyed(s: AsyncSession) -> tuple[int, dict[str, Any]]:
        record = (
            await s.exec(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.token_id == token_id, IdempotencyRecord.key == key
                )
            )
        ).first()
        if record is not None and record.created_at < utcnow() - ttl:
            await s.exec(delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id))  # type: ignore[arg-type]
            record = None
        if record is not None:
            if record.request_hash != request_hash:
                raise ApiError(
                    422,
                    "idempotency_key_reused",
                    f"{HEADER} {key!r} was first used for a different request (another method, "
                    "path or body); use a new key for a new request",
                )
            raise _Replay(record.status_code, record.response)
        status, answer = await work(s)
        if status < 500:
            s.add(
                IdempotencyRecord(
                    token_id=token_id,
                    key=key,
                    request_hash=request_hash,
                    status_code=status,
                    response=answer,
                )
            )
            await s.flush()
        return status, answer

    try:
        return await _retrying(state, keyed)
    except _Replay as replay:
        return JSONResponse(replay.body, status_code=replay.status, headers={REPLAYED: "true"})


class _Replay(Exception):
    """Carries a stored answer out of the transaction (which then ends without writing)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(status)


async def _retrying(state: AppState, work: Work) -> JSONResponse:
    """Run `work` in a transaction; once more if a concurrent request won a unique key."""
    for attempt in (1, 2):
        try:
            async with state.db.session() as s:
                status, answer = await work(s)
            return JSONResponse(answer, status_code=status)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
