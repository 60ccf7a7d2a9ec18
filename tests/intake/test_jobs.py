"""The Redis contract `enqueue_call`, through a real redis-server and a real arq worker: the
documented snippet (docs/contracts/redis-job.md) enqueues a contact; bad payloads land in the
dead-letter table with the reason, secrets masked; none is dropped."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker, func
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlmodel import select
from typer.testing import CliRunner

from jobs import tasks
from orchestrator import keys
from orchestrator.deps import Deps, build_deps, close_deps
from orchestrator.main import app
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Contact, DeadLetter
from tests.support.factories import make_campaign

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "contracts" / "redis-job.md"
KEY = SecretBox.generate_key()


@pytest.fixture
async def deps(
    settings: Settings, db: Database, redis_server: str, real_redis: Redis
) -> AsyncIterator[Deps]:
    configured = settings.model_copy(
        update={"redis_url": redis_server, "secret_keys": [SecretStr(KEY)]}
    )
    built = build_deps(configured, real_redis)
    yield built
    await close_deps(built)


async def run_worker(deps: Deps) -> None:
    """Run the queued `enqueue_call` jobs (burst: stop when the queue is empty)."""
    worker = Worker(
        functions=[func(tasks.enqueue_call, name=keys.JOB_ENQUEUE_CALL)],
        redis_settings=RedisSettings.from_dsn(deps.settings.redis_url),
        queue_name=deps.settings.queue_name,
        burst=True,
        handle_signals=False,
        poll_delay=0.05,
        ctx={"deps": deps},
    )
    try:
        await worker.main()
    finally:
        await worker.close()


async def enqueue(deps: Deps, *payloads: Any) -> None:
    pool = await create_pool(RedisSettings.from_dsn(deps.settings.redis_url))
    try:
        for payload in payloads:
            await pool.enqueue_job(
                keys.JOB_ENQUEUE_CALL, payload, _queue_name=deps.settings.queue_name
            )
    finally:
        await pool.aclose()


def documented_snippet() -> str:
    match = re.search(r"```python\n(.*?)```", CONTRACT.read_text(), re.S)
    assert match is not None, "the Redis job page lost its snippet"
    return match.group(1)


async def test_the_documented_snippet_enqueues_a_contact(deps: Deps, db: Database) -> None:
    await make_campaign(db, "demo")
    snippet = documented_snippet().replace("redis://127.0.0.1:6379/0", deps.settings.redis_url)
    snippet = snippet.replace('"orchestrator:queue"', repr(deps.settings.queue_name))
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", snippet], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    await run_worker(deps)
    async with db.session() as s:
        contact = (await s.exec(select(Contact))).one()
        attempt = (await s.exec(select(Attempt))).one()
    assert contact.external_id == "crm-0042" and contact.timezone == "America/Los_Angeles"
    assert contact.variables["customer_name"] == "Ada Lovelace"
    assert attempt.state == "scheduled"
    async with db.session() as s:
        assert (await s.exec(select(DeadLetter))).all() == []


async def test_every_bad_payload_is_kept_with_its_reason(deps: Deps, db: Database) -> None:
    campaign = await make_campaign(db, "spring")
    good = {
        "campaign": campaign.id,
        "external_id": "crm-1",
        "phone_number": "+14155550123",
        "variables": {"customer_name": "Ada", "secret__token": "tok_PLANTED_7"},
    }
    bad: list[Any] = [
        ["not", "an", "object"],
        {**good, "campaign": None},
        {**good, "campaign": "nope"},
        {**good, "phone_number": "12", "persona": "nobody"},
        {**good, "variables": {"secret__token": "tok_PLANTED_8", "system__x": 1}},
        {**good, "unexpected": True},
    ]
    await enqueue(deps, good, *bad)
    await run_worker(deps)
    async with db.session() as s:
        letters = list((await s.exec(select(DeadLetter).order_by(DeadLetter.id))).all())  # type: ignore[arg-type]
        contacts = (await s.exec(select(Contact))).all()
    assert [c.external_id for c in contacts] == ["crm-1"]
    assert len(letters) == len(bad)
    # The worker runs jobs concurrently: find each payload's letter by what it kept.
    by_kind = {
        (letter.payload.get("payload_type") or repr(sorted(letter.payload))): letter
        for letter in letters
    }
    assert by_kind["list"].reason == "payload: expected an object"
    reasons = sorted(letter.reason for letter in letters)
    assert "unknown campaign: nope" in reasons
    assert any(r.startswith("campaign: required") for r in reasons)
    assert any("phone_number" in r and "persona" in r for r in reasons)
    assert any("variables.system__x" in r for r in reasons)
    assert any("unexpected" in r for r in reasons)
    masked = [letter for letter in letters if "system__x" in letter.payload.get("variables", {})]
    assert masked[0].payload["variables"]["secret__token"] == "***"
    assert all(letter.source == "redis:enqueue_call" for letter in letters)
    assert "PLANTED" not in repr([letter.payload for letter in letters])

    listed = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["dead-letters"],
        env={"ORCH_DATABASE_URL": deps.settings.database_url},
    )
    assert listed.exit_code == 0, listed.output
    assert "unknown campaign: nope" in listed.output
    assert f"Dead letters ({len(bad)})" in listed.output


async def test_a_job_for_a_known_contact_keeps_what_it_omits(deps: Deps, db: Database) -> None:
    from orchestrator.intake.jobs import enqueue_call_payload

    await make_campaign(db, "spring")
    full = {
        "campaign": "spring",
        "external_id": "crm-1",
        "phone_number": "+14155550123",
        "timezone": "America/Chicago",
        "variables": {"customer_name": "Ada", "balance": 3, "secret__token": "tok_PLANTED_3"},
    }
    assert await enqueue_call_payload(deps, full) == "accepted"
    partial = {"campaign": "spring", "external_id": "crm-1", "variables": {"balance": 4}}
    assert await enqueue_call_payload(deps, partial) == "updated"
    async with db.session() as s:
        contact = (await s.exec(select(Contact))).one()
    assert SecretBox([KEY]).open(contact.variables) == {
        "customer_name": "Ada",
        "balance": 4,
        "secret__token": "tok_PLANTED_3",
    }
    assert (contact.phone_number, contact.timezone) == ("+14155550123", "America/Chicago")
    # A new contact without a number is refused, with the reason kept.
    unknown = {"campaign": "spring", "external_id": "crm-2", "variables": {"customer_name": "B"}}
    assert await enqueue_call_payload(deps, unknown) == "dead-lettered"
    async with db.session() as s:
        [letter] = (await s.exec(select(DeadLetter))).all()
    assert "phone_number" in letter.reason


@pytest.mark.parametrize(
    ("payload", "kept"),
    [
        ("crm-1,+14155550123,Ada", "crm-1,+14155550123,Ada"),
        (["crm-1", 7, None], ["crm-1", 7, None]),
        (42, 42),
    ],
)
async def test_a_payload_that_is_not_an_object_is_kept_in_its_dead_letter(
    deps: Deps, db: Database, payload: Any, kept: Any
) -> None:
    from orchestrator.intake.jobs import enqueue_call_payload

    assert await enqueue_call_payload(deps, payload) == "dead-lettered"
    async with db.session() as s:
        [letter] = (await s.exec(select(DeadLetter))).all()
    assert letter.payload["payload"] == kept
    assert letter.payload["payload_type"] == type(payload).__name__


async def test_invalid_text_in_a_job_is_dead_lettered_naming_the_field(
    deps: Deps, db: Database
) -> None:
    # arq pickles the payload: any Python str arrives, a lone surrogate or a NUL included.
    campaign = await make_campaign(db, "spring")
    good = {
        "campaign": campaign.id,
        "external_id": "crm-1",
        "phone_number": "+14155550123",
        "variables": {"customer_name": "Ada", "secret__token": "tok_PLANTED_9\ud83d"},
    }
    bad: list[Any] = [
        {**good, "variables": {**good["variables"], "note": "\ud83d"}},
        {**good, "external_id": "crm\x00-2"},
        {**good, "campaign": "spring\udcff"},
        {**good, "variables": {"customer_name": "Ada", "bad\x00name": "x"}},
    ]
    await enqueue(deps, *bad)
    await run_worker(deps)
    async with db.session() as s:
        letters = list((await s.exec(select(DeadLetter))).all())
        contacts = (await s.exec(select(Contact))).all()
    assert contacts == []
    assert len(letters) == len(bad)
    reasons = " | ".join(letter.reason for letter in letters)
    assert "variables.note: invalid text at character 1: a lone surrogate" in reasons
    assert "external_id: invalid text at character 4: NUL" in reasons
    assert "campaign: invalid text" in reasons
    assert "variables.bad\\u0000name: the name has invalid text" in reasons
    assert "variables.secret__token: invalid text" in reasons
    kept = repr([letter.payload for letter in letters])
    # Kept masked and escaped: the secret is gone, the bad characters written as escapes.
    assert "PLANTED" not in kept
    assert "\\\\ud83d" in kept and "\ud83d" not in kept and "\x00" not in kept
