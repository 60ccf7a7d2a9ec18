"""Recordings whose audio webhook never came are fetched from the provider."""

from __future__ import annotations

import asyncio

import httpx
from sqlmodel import select

from orchestrator.dialing.dial import DialResultKind, dial_attempt
from orchestrator.recordings.store import FolderStorage
from orchestrator.settings import SANDBOX_API_KEY
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Outcome
from orchestrator.tracking.missing_audio import fetch_missing
from orchestrator.tracking.poller import poll_stale
from tests.dialing.conftest import StackFactory
from tests.support.factories import make_campaign, make_contact

ANSWERED = {
    "success": 1.0,
    "failure": 0.0,
    "voicemail": 0.0,
    "no_answer": 0.0,
    "busy": 0.0,
    "failed": 0.0,
    "jitter": 0.0,
}


async def test_missing_recording_is_downloaded(db: Database, stack: StackFactory) -> None:
    campaign = await make_campaign(db)
    _, attempt = await make_contact(db, campaign, attempt_state="queued")
    assert attempt is not None and attempt.id is not None
    # No webhook URL: nothing is delivered, so polling and fetching must do all the work.
    async with stack(
        **ANSWERED, settings_update={"poll_after_secs": 0.01, "audio_grace_secs": 0.0}
    ) as (deps, sb):
        assert await dial_attempt(deps, attempt.id) is DialResultKind.INITIATED
        for _ in range(200):
            await poll_stale(deps)
            async with db.session() as s:
                row = await s.get(Attempt, attempt.id)
            assert row is not None
            if row.state == "completed":
                break
            await asyncio.sleep(0.05)
        assert row.state == "completed"
        storage = FolderStorage(deps.settings.audio_dir)
        assert await fetch_missing(deps, storage) == 1
        assert await fetch_missing(deps, storage) == 0
        async with httpx.AsyncClient(base_url=sb.base_url) as http:
            audio = await http.get(
                f"/v1/convai/conversations/{row.conversation_id}/audio",
                headers={"xi-api-key": SANDBOX_API_KEY},
            )
    async with db.session() as s:
        outcome = (await s.exec(select(Outcome))).one()
    assert outcome.has_audio
    assert outcome.audio_path is not None
    with open(outcome.audio_path, "rb") as fh:
        assert fh.read() == audio.content
