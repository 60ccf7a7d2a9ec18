"""Webhook events no attempt claims are reported: a gauge on /metrics and a CLI listing."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from typer.testing import CliRunner

from orchestrator.main import app
from orchestrator.metrics.shared import gather
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import WebhookEvent


async def test_unmatched_events_are_counted_and_listed(
    settings: Settings, db: Database, real_redis: Redis
) -> None:
    async with db.session() as s:
        for n, status in enumerate(["unmatched", "unmatched", "processed", "received"]):
            s.add(
                WebhookEvent(
                    event_type="post_call_transcription",
                    conversation_id=f"conv_{status}_{n}",
                    body=b"{}",
                    status=status,
                )
            )
    snapshot = await gather(real_redis, db, account_limit=10)
    assert snapshot.unmatched == 2
    assert snapshot.unprocessed == 1

    listed = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["unmatched-events"],
        env={"ORCH_DATABASE_URL": settings.database_url},
    )
    assert listed.exit_code == 0, listed.output
    assert "Unmatched webhook events (2)" in listed.output
    assert "conv_unmatched_0" in listed.output and "conv_unmatched_1" in listed.output
    assert "conv_processed_2" not in listed.output
