"""The deployment at scale: Postgres, one Redis, the web app and three worker processes.

The documented production configuration (docs/deploy.md), run for real: a throwaway PostgreSQL
cluster (Debian's `postgresql`, started here), one redis-server, `orchestrator web` and three
`orchestrator worker` processes sharing them, against the sandbox. The sandbox enforces a
concurrency of N and the orchestrator is given exactly N, so a single call too many would be
refused with a concurrency 429. A campaign of 300 contacts (100 of whom share a phone number
with another contact) must end with every contact final, one dial per attempt, never two live
calls to one number, never a concurrency refusal, and every accepted webhook applied — the same
guarantees as on one process, now resting on compare-and-set in Postgres and the Lua limiter.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from redis import Redis
from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.dev.demo import DEMO_CLOCK_RATE, DEMO_CLOCK_START, DEMO_TOML, run_campaign
from orchestrator.dev.stack import LocalStack
from orchestrator.lifecycle import add_do_not_call
from orchestrator.lifecycle.memory import remember
from orchestrator.store.engine import Database
from orchestrator.store.migrate import upgrade
from orchestrator.store.models import (
    Attempt,
    Campaign,
    Contact,
    ContactContext,
    DoNotCall,
    Outcome,
)
from tests.e2e.chaos_kit import read_rows, write_contacts
from tests.support.postgres import PostgresCluster, available

pytestmark = pytest.mark.e2e

#: The account's concurrency, at the sandbox and in our settings alike.
N = 20
CONTACTS = 300
WORKERS = 3


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of our own for this module (`make test` installs the package)."""
    if not available():
        pytest.fail("PostgreSQL is not installed (make test installs Debian's postgresql)")
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def at_scale(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresCluster) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("scale")
    contacts = write_contacts(folder / "contacts.csv", CONTACTS, prefix="scale")
    stack = LocalStack(
        workdir=folder / "stack",
        sandbox_options={"concurrency": str(N), "time_scale": "0.02", "seed": "31"},
        config_toml=DEMO_TOML.replace("concurrency_limit = 20", f"concurrency_limit = {N}"),
        # As a platform hands it out (`postgres://`, libpq's `sslmode`): what `DATABASE_URL`
        # holds on Heroku-like platforms must work as is for `db upgrade`, web and workers.
        database_url=postgres.url.replace("postgresql://", "postgres://") + "?sslmode=prefer",
    )
    stack.pin_calendar(DEMO_CLOCK_START, DEMO_CLOCK_RATE)
    try:
        stack.start(worker=False)
        workers = [stack.start_worker(f"worker-{i}") for i in range(WORKERS)]
        result = asyncio.run(run_campaign(stack, contacts, console=None, timeout=300))
        summary = stack.sandbox_get("/sandbox/summary").json()
        assert stack.redis_url is not None
        redis = Redis.from_url(stack.redis_url)
        try:
            slot_keys = [k for k in redis.keys("orch:slots:*") if redis.type(k) == b"zset"]
            held = {k.decode(): int(redis.zcard(k)) for k in slot_keys}
        finally:
            redis.close()
        attempts, outcomes, events = asyncio.run(read_rows(stack.database_url))
        logs = {w.name: w.log_path.read_text(errors="replace") for w in workers}
        alive = [w.name for w in workers if w.popen.poll() is None]
    finally:
        stack.stop()
    return {
        "result": result,
        "summary": summary,
        "held": held,
        "attempts": attempts,
        "outcomes": outcomes,
        "events": events,
        "logs": logs,
        "alive": alive,
        "database_url": stack.database_url,
    }


def test_runs_on_postgres_with_every_worker_dialling(at_scale: dict[str, Any]) -> None:
    assert at_scale["database_url"].startswith("postgres://")
    assert len(at_scale["attempts"]) >= CONTACTS
    assert sorted(at_scale["alive"]) == [f"worker-{i}" for i in range(WORKERS)]
    # Each worker process placed calls: the load really was shared.
    assert all("dial.initiated" in log for log in at_scale["logs"].values())


def test_every_contact_final(at_scale: dict[str, Any]) -> None:
    report = at_scale["result"].report
    assert report.contacts == CONTACTS
    assert report.contacts_final == CONTACTS
    assert report.all_final


def test_nobody_dialled_twice(at_scale: dict[str, Any]) -> None:
    check, summary = at_scale["result"].dial_check, at_scale["summary"]
    assert check["dials"] > CONTACTS // 2
    assert check["duplicate_dials"] == 0
    assert check["unmatched_dials"] == 0
    assert check["distinct_attempts_dialled"] == check["dials"] == summary["dials"]
    assert summary["max_live_per_number"] == 1
    assert summary["overlapping_number_dials"] == 0


def test_exact_limit_never_exceeded(at_scale: dict[str, Any]) -> None:
    summary = at_scale["summary"]
    assert summary["rejected_concurrency"] == 0
    assert summary["peak_live"] <= N
    assert summary["burst_dials"] == 0


def test_every_webhook_stored_and_applied(at_scale: dict[str, Any]) -> None:
    webhooks = at_scale["summary"]["webhooks"]
    assert webhooks["failed"] == 0
    assert len(at_scale["events"]) == webhooks["delivered"] > 0
    statuses = Counter(e.status for e in at_scale["events"])
    assert statuses == {"processed": len(at_scale["events"])}


def test_one_outcome_per_dialled_attempt(at_scale: dict[str, Any]) -> None:
    dialled = {a.id for a in at_scale["attempts"] if a.conversation_id}
    per_attempt = Counter(o.attempt_id for o in at_scale["outcomes"])
    assert set(per_attempt) == dialled
    assert set(per_attempt.values()) == {1}
    seqs = Counter((a.contact_id, a.seq) for a in at_scale["attempts"])
    assert set(seqs.values()) == {1}


def test_no_slot_left_held(at_scale: dict[str, Any]) -> None:
    assert at_scale["held"] == dict.fromkeys(at_scale["held"], 0)


# ---- two workers writing one row at once (what SQLite's single write lock hides) -------------
@pytest.fixture
async def pg_db(
    postgres: PostgresCluster, request: pytest.FixtureRequest
) -> AsyncIterator[Database]:
    """A database of its own in the module's cluster, at the head migration."""
    url = postgres.create_database(f"race_{request.node.name[-40:].lower()}")
    await upgrade(url)
    db = Database(url)
    yield db
    await db.dispose()


async def _until_a_writer_waits(db: Database) -> None:
    """Return once some session waits for a row lock (the second writer reached the row)."""
    deadline = time.monotonic() + 30
    query = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    while True:
        async with db.read() as s:
            if (await s.exec(query)).scalar_one():
                return
        assert time.monotonic() < deadline, "the second writer never reached the row"
        await asyncio.sleep(0.02)


async def _while_first_holds(
    db: Database,
    first: Callable[[AsyncSession], Awaitable[object]],
    second: Callable[[AsyncSession], Awaitable[object]],
) -> None:
    """Run `first` in a transaction kept open until `second`, in another, waits on its row."""

    async def other() -> None:
        async with db.session() as s:
            await second(s)

    async with db.session() as s:
        await first(s)
        await s.flush()  # as the statements that follow it in a real transaction would
        waiting = asyncio.create_task(other())
        await _until_a_writer_waits(db)
    await waiting  # must not fail on the key the first transaction just committed


async def test_concurrent_opt_outs_of_one_number_both_succeed(pg_db: Database) -> None:
    phone = "+14155550199"
    await _while_first_holds(
        pg_db,
        lambda s: add_do_not_call(s, phone, "asked during the call"),
        lambda s: add_do_not_call(s, phone, "opt-out through the API"),
    )
    async with pg_db.read() as s:
        rows = (await s.exec(select(DoNotCall))).all()
    assert [(r.phone_number, r.reason) for r in rows] == [(phone, "asked during the call")]


async def test_concurrent_context_of_one_person_keeps_both_calls(pg_db: Database) -> None:
    person = Contact(campaign_id=1, external_id="crm-7", phone_number="+14155550177")

    def ended(campaign: str, collected: dict[str, Any]) -> Callable[[AsyncSession], Any]:
        attempt = Attempt(campaign_id=1, contact_id=1, seq=1, phone_number=person.phone_number)
        outcome = Outcome(
            attempt_id=1,
            campaign_id=1,
            state="completed",
            call_successful="success",
            conversation_id=f"conv_{campaign}",
            data_collection=collected,
        )
        return lambda s: remember(s, attempt, person, Campaign(name=campaign), outcome)

    await _while_first_holds(
        pg_db, ended("spring", {"plan": "gold"}), ended("autumn", {"callback": "mornings"})
    )
    async with pg_db.read() as s:
        context = await s.get(ContactContext, "crm-7")
    assert context is not None
    assert context.collected == {"plan": "gold", "callback": "mornings"}
    assert context.campaign_name == "autumn"
