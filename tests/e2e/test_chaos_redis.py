"""Chaos: redis-server is killed (SIGKILL) mid-campaign and started again on its append-only file.

Redis runs with `--appendonly yes --appendfsync always`, the persistence the deployment guide
asks of a managed Redis: every write it acknowledged (queued jobs, slot leases, pacing) is on
disk before the reply. While it is down, webhooks cannot be enqueued, so the web app answers
503 and the sandbox retries; workers lose their connection and must carry on once it is back.
Every contact must still end final, nobody dialled twice, and every accepted webhook applied.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from orchestrator.dev.stack import LocalStack
from tests.e2e.chaos_kit import (
    Evidence,
    WebhookTap,
    assert_every_call_has_its_outcome,
    assert_every_contact_final,
    assert_every_recording_stored,
    assert_no_slot_held,
    assert_nobody_dialled_twice,
    assert_nothing_accepted_lost,
    gather,
    make_stack,
    run_with_fault,
    sandbox_dials,
    wait_for,
    write_contacts,
)

pytestmark = pytest.mark.e2e

CONTACTS = 80
MARKER = "chaos:acknowledged-before-the-crash"


@pytest.fixture(scope="module")
def redis_crash(tmp_path_factory: pytest.TempPathFactory) -> Evidence:
    folder = tmp_path_factory.mktemp("chaos-redis")
    contacts = write_contacts(folder / "contacts.csv", CONTACTS)
    tap = WebhookTap(target="")
    stack = make_stack(folder / "stack", tap, redis_aof=True, sandbox_options={"seed": "21"})
    tap.start()
    try:
        stack.start()
        result, notes = asyncio.run(run_with_fault(stack, contacts, lambda: _crash(stack, tap)))
        notes["web_alive"] = all(p.popen.poll() is None for p in stack.processes if p.name == "web")
        return gather(stack, tap, result, notes)
    finally:
        stack.stop()
        tap.stop()


async def _crash(stack: LocalStack, tap: WebhookTap) -> dict[str, Any]:
    """Once a third of the contacts were dialled: write a marker, kill redis, keep it down
    until a webhook has been refused for it, start it again."""
    await wait_for(lambda: sandbox_dials(stack) >= CONTACTS // 3, "a third of the dials")
    client = Redis.from_url(stack.redis_url)
    client.set(MARKER, "1")
    client.close()
    pid = next(p.popen.pid for p in stack.processes if p.name == "redis")
    refused_before = tap.count(lambda d: d.status >= 500)

    def while_down() -> None:
        # Deterministic "webhooks arrive during the outage": wait for one to be refused.
        asyncio.run(
            wait_for(
                lambda: tap.count(lambda d: d.status >= 500) > refused_before,
                "a webhook refused while redis is down",
            )
        )

    await asyncio.to_thread(stack.restart_redis, kill=True, while_down=while_down)
    client = Redis.from_url(stack.redis_url)
    marker = client.get(MARKER)
    client.close()
    new_pid = next(p.popen.pid for p in stack.processes if p.name == "redis")
    aof = sorted(str(p.relative_to(stack.workdir)) for p in Path(stack.workdir).rglob("*.aof"))
    return {"marker": marker, "restarted": new_pid != pid, "aof_files": aof}


def test_redis_really_crashed_and_kept_what_it_acknowledged(redis_crash: Evidence) -> None:
    notes = redis_crash.notes
    assert notes["restarted"]
    assert notes["aof_files"]
    assert notes["marker"] == b"1"
    refused = [d for d in redis_crash.deliveries if d.status >= 500]
    assert refused, "no webhook arrived while redis was down"


def test_web_outlived_the_outage(redis_crash: Evidence) -> None:
    assert redis_crash.notes["web_alive"]


def test_workers_outlived_the_outage(redis_crash: Evidence) -> None:
    # Workers retry Redis commands with backoff (orchestrator/redis_conn.py): none had to be
    # restarted.
    assert redis_crash.notes["worker_restarts"] == []


def test_every_contact_final(redis_crash: Evidence) -> None:
    assert_every_contact_final(redis_crash)
    assert_every_call_has_its_outcome(redis_crash)


def test_nobody_dialled_twice(redis_crash: Evidence) -> None:
    assert_nobody_dialled_twice(redis_crash)


def test_nothing_accepted_was_lost(redis_crash: Evidence) -> None:
    assert_nothing_accepted_lost(redis_crash)
    assert_every_recording_stored(redis_crash)


def test_no_slot_left_held(redis_crash: Evidence) -> None:
    assert_no_slot_held(redis_crash)
