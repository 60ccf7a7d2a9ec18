"""Fetch recordings whose `post_call_audio` webhook never came (lost, or refused on a full disk).

A conversation that says `has_audio` but has no stored recording some time after its end is
downloaded from `GET /v1/convai/conversations/{id}/audio` and streamed into storage.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from sqlmodel import col, select

from orchestrator.deps import Deps
from orchestrator.errors import ProviderError, StorageFull
from orchestrator.recordings.store import Storage
from orchestrator.store.models import Outcome
from orchestrator.store.types import utcnow

log = structlog.get_logger(__name__)

FETCH_CONCURRENCY = 4


async def fetch_missing(deps: Deps, storage: Storage, *, limit: int = 50) -> int:
    """Download recordings still missing after the grace period; returns how many were stored."""
    if not deps.settings.fetch_missing_audio:
        return 0
    cutoff = utcnow() - timedelta(seconds=deps.settings.audio_grace_secs)
    async with deps.db.session() as s:
        rows = (
            await s.exec(
                select(Outcome.id, Outcome.conversation_id)
                .where(
                    col(Outcome.has_audio).is_(True),
                    col(Outcome.audio_path).is_(None),
                    col(Outcome.conversation_id).is_not(None),
                    col(Outcome.updated_at) < cutoff,
                )
                .limit(limit)
            )
        ).all()
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def one(outcome_id: int, conversation_id: str) -> bool:
        async with gate:
            return await _fetch(deps, storage, outcome_id, conversation_id)

    results = await asyncio.gather(*(one(o, c) for o, c in rows if o is not None and c))
    return sum(results)


async def _fetch(deps: Deps, storage: Storage, outcome_id: int, conversation_id: str) -> bool:
    writer = storage.open_writer()
    try:
        async with deps.provider.audio(conversation_id) as response:
            if response is None:
                writer.abort()
                await _mark(deps, outcome_id, None)
                return False
            async for chunk in response.aiter_bytes():
                writer.write(chunk)
        location = writer.commit(f"{conversation_id}.mp3")
    except (ProviderError, StorageFull) as exc:
        writer.abort()
        log.warning("recording.fetch_failed", conversation_id=conversation_id, error=str(exc))
        return False
    except BaseException:
        writer.abort()
        raise
    await _mark(deps, outcome_id, location)
    return True


async def _mark(deps: Deps, outcome_id: int, location: str | None) -> None:
    async with deps.db.session() as s:
        outcome = await s.get(Outcome, outcome_id)
        if outcome is None or outcome.audio_path:
            return
        if location is None:
            # The provider has no recording after all: stop asking.
            outcome.has_audio = False
        else:
            outcome.audio_path = location
        outcome.updated_at = utcnow()
        s.add(outcome)
