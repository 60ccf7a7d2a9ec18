"""A planted `secret__` value goes everywhere a contact goes — CSV import, the HTTP API, the
Redis job, one call's values, a dial — and is then looked for in the logs, every API answer,
the reports, the rejects file, the dead letters and the raw database file. It must be found
in clear only where it belongs: in the request to the provider."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import httpx
import pytest
import structlog
from pydantic import SecretStr
from sqlmodel import select
from typer.testing import CliRunner

from orchestrator.deps import build_deps, close_deps
from orchestrator.dev.sandbox.config import SandboxConfig
from orchestrator.dev.sandbox.server import running
from orchestrator.dialing.dial import dial_attempt
from orchestrator.domain.attempt import AttemptState
from orchestrator.domain.campaign_policy import CampaignPolicy
from orchestrator.domain.variables import AgentVariable
from orchestrator.intake.csv_import import import_csv
from orchestrator.intake.jobs import enqueue_call_payload
from orchestrator.logs import configure_logging
from orchestrator.main import app as cli
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store.attempts import transition
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt
from orchestrator.store.tokens import create_token
from orchestrator.web.app import create_app
from tests.support.factories import make_campaign
from tests.support.servers import serve

SECRETS = {
    "csv": "tok_PLANTED_csv_5c1e7a",
    "csv_rejected": "tok_PLANTED_csvrej_0b4d",
    "api": "tok_PLANTED_api_77d2c3",
    "api_rejected": "tok_PLANTED_apirej_e81f",
    "call": "otp_PLANTED_call_31a9",
    "job": "tok_PLANTED_job_90f0aa",
    "job_rejected": "tok_PLANTED_jobrej_42c7",
    "typed": "12x34",
}
OPEN_HOURS = datetime(2025, 3, 4, 19, 0, tzinfo=UTC)
#: Not secret: proves the database file is readable by the search below.
PLAIN = "Ada_PLAINMARK_c0ffee"


def everything(*parts: Any) -> str:
    return "\n".join(p if isinstance(p, str) else json.dumps(p, default=str) for p in parts)


def database_bytes(folder: Path) -> bytes:
    files = sorted(folder.glob("test.db*"))
    assert folder / "test.db" in files
    return b"".join(p.read_bytes() for p in files)


@pytest.fixture
def configured(settings: Settings, redis_server: str) -> Settings:
    agent = settings.agents["agent_test"].model_copy(deep=True)
    # A declared (typed) secret: a badly typed value must be refused without being echoed.
    agent.variables["secret__pin"] = AgentVariable(type="integer", default=0)
    return settings.model_copy(
        update={
            "agents": {"agent_test": agent},
            "redis_url": redis_server,
            "secret_keys": [SecretStr(SecretBox.generate_key())],
            "log_json": True,
            "log_level": "DEBUG",
            "calls_per_second": 1000.0,
        }
    )


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[TextIO]:
    """A file the app's logs go to during the test; logging is put back as it was after."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with (tmp_path / "app.log").open("w", encoding="utf-8") as fh:
        yield fh
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_a_planted_secret_is_found_nowhere_in_clear(
    configured: Settings,
    db: Database,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    log_file: TextIO,
) -> None:
    # The app's own log processors (masking included), writing to a file of this test; the
    # global configuration is restored afterwards (see `logs_to`).
    configure_logging(configured)
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(file=log_file),
        cache_logger_on_first_use=False,
    )
    outputs: list[Any] = []
    await make_campaign(db, "spring", config=CampaignPolicy().model_dump(mode="json"))

    # CSV: one good row, one refused row, both with a secret column.
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text(
        "external_id,phone_number,customer_name,secret__token\n"
        f"csv-1,+14155550101,{PLAIN},{SECRETS['csv']}\n"
        f"csv-2,not-a-number,Bob,{SECRETS['csv_rejected']}\n"
    )
    rejects = tmp_path / "contacts.rejects.csv"
    summary = await import_csv(
        db, configured, csv_file, "spring", rejects_path=rejects, create=True
    )
    assert (summary.accepted, summary.rejected) == (1, 1)
    outputs += [rejects.read_text(), [vars(e) for e in summary.errors]]

    # HTTP: campaigns, bulk rows (one refused), a contact's view, a call with its own secret.
    async with db.session() as s:
        token = await create_token(s, "crm", "crm")
    headers = {"Authorization": f"Bearer {token.secret}", "Idempotency-Key": "k-1"}
    async with serve(create_app(configured)) as url, httpx.AsyncClient(base_url=url) as http:
        rows = [
            {
                "external_id": "api-1",
                "phone_number": "+14155550102",
                "variables": {"customer_name": "Ada", "secret__token": SECRETS["api"]},
            },
            {
                "external_id": "api-2",
                "phone_number": "nope",
                "variables": {
                    "secret__token": SECRETS["api_rejected"],
                    "secret__pin": SECRETS["typed"],
                },
            },
        ]
        answers = [
            await http.post(
                "/v1/campaigns/spring/contacts", json={"contacts": rows}, headers=headers
            ),
            await http.post(
                "/v1/campaigns/spring/contacts", json={"contacts": rows}, headers=headers
            ),
            await http.get("/v1/campaigns/spring/contacts/api-1", headers=headers),
            await http.get("/v1/campaigns/spring/contacts/csv-1", headers=headers),
            await http.get("/v1/campaigns/spring", headers=headers),
        ]
        called = await http.post(
            "/v1/calls",
            json={
                "campaign": "spring",
                **rows[0],
                "call": {"variables": {"secret__otp": SECRETS["call"]}},
            },
            headers={"Authorization": headers["Authorization"]},
        )
        assert called.status_code == 202, called.text
        answers += [
            called,
            await http.get(f"/v1/calls/{called.json()['attempt_id']}", headers=headers),
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 200, 202, 200]
    assert "***" in answers[2].text  # the view shows the secret is there, masked
    outputs += [a.text for a in answers]

    # The dial: decrypted for the provider, and only there.
    sandbox_config = SandboxConfig(port=0, time_scale=0.001, seed=1, success=1.0, failure=0.0)
    async with running(sandbox_config) as sandbox:
        host, port = sandbox.base_url.removeprefix("http://").split(":")
        dial_settings = configured.model_copy(
            # A Tuesday, 11:00 in San Francisco: the calling window is open whatever the hour.
            update={"sandbox_host": host, "sandbox_port": int(port), "clock_start": OPEN_HOURS}
        )
        from arq import create_pool
        from arq.connections import RedisSettings

        queue = await create_pool(RedisSettings.from_dsn(configured.redis_url))
        deps = build_deps(dial_settings, queue, queue=queue)
        sent: list[Any] = []
        place_call = deps.provider.outbound_call

        async def spy(*args: Any, **kwargs: Any) -> Any:
            sent.append(kwargs.get("initiation_data"))
            return await place_call(*args, **kwargs)

        deps.provider.outbound_call = spy  # type: ignore[method-assign]
        try:
            # The Redis job: one accepted payload and one dead-lettered, both with secrets.
            job = {
                "campaign": "spring",
                "external_id": "job-1",
                "phone_number": "+14155550103",
                "variables": {"customer_name": "Jo", "secret__token": SECRETS["job"]},
            }
            assert await enqueue_call_payload(deps, job) == "accepted"
            bad_job = {
                **job,
                "phone_number": "x",
                "variables": {"secret__token": SECRETS["job_rejected"]},
            }
            assert await enqueue_call_payload(deps, bad_job) == "dead-lettered"

            attempt_id = called.json()["attempt_id"]
            async with db.session() as s:
                await transition(s, attempt_id, [AttemptState.SCHEDULED], AttemptState.QUEUED)
            assert str(await dial_attempt(deps, attempt_id)) == "initiated"
            assert len(sandbox.sandbox.book.calls) == 1
        finally:
            await close_deps(deps)
            await queue.aclose()
    # Decrypted for the provider's request, and only there.
    [data] = sent
    assert data["dynamic_variables"]["secret__otp"] == SECRETS["call"]
    assert data["dynamic_variables"]["secret__token"] == SECRETS["api"]

    # Reports, as a supervisor reads them.
    env = {"ORCH_DATABASE_URL": configured.database_url}
    report = await asyncio.to_thread(
        CliRunner().invoke, cli, ["report", "spring", "--format", "json"], env=env
    )
    assert report.exit_code == 0, report.output
    outputs.append(report.output)
    letters = await asyncio.to_thread(CliRunner().invoke, cli, ["dead-letters"], env=env)
    outputs.append(letters.output)

    async with db.session() as s:
        attempt = await s.get(Attempt, called.json()["attempt_id"])
        assert attempt is not None and attempt.state != "dialing"
        assert (await s.exec(select(Attempt))).all()
    await db.dispose()
    raw = database_bytes(tmp_path)
    logs = capfd.readouterr()
    log_file.flush()
    log_text = logs.out + logs.err + (tmp_path / "app.log").read_text()
    assert "dial.initiated" in log_text  # the logs were captured
    assert PLAIN.encode() in raw  # the database file is searchable in clear

    seen = everything(*outputs)
    for name, secret in SECRETS.items():
        assert secret not in seen, f"{name} secret in an API answer, report or export"
        assert secret not in log_text, f"{name} secret in the logs"
        assert secret.encode() not in raw, f"{name} secret in the database file"


# ---- finding 4: nothing in Redis, no table, no log holds a planted secret in clear -----------

STORED = {
    "csv": "tok_STORED_csv_1f0e2d",
    "bulk": "tok_STORED_bulk_a93c11",
    "bulk_rejected": "tok_STORED_bulkrej_5e0b",
    "call": "otp_STORED_call_7d21",
    "call_contact": "tok_STORED_callrow_c4f8",
    "job": "tok_STORED_job_2b6e90",
    "job_first": "tok_STORED_jobfirst_19aa",
    "job_rejected": "tok_STORED_jobrej_0c3d",
    "job_typo": "tok_STORED_jobtypo_6b72",
}


async def redis_text(client: Any) -> bytes:
    """Every key of the Redis database and every value it holds, whatever its type."""
    parts: list[bytes] = []
    async for key in client.scan_iter(count=1000):
        parts.append(key)
        kind = (await client.type(key)).decode()
        if kind == "string":
            parts.append(await client.get(key) or b"")
        elif kind == "hash":
            for field, value in (await client.hgetall(key)).items():
                parts += [field, value]
        elif kind == "list":
            parts += await client.lrange(key, 0, -1)
        elif kind == "set":
            parts += list(await client.smembers(key))
        elif kind == "zset":
            parts += [member for member, _ in await client.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            for _id, fields in await client.xrange(key):
                for field, value in fields.items():
                    parts += [field, value]
        else:
            raise AssertionError(f"{key!r}: a Redis type this scan does not read: {kind}")
    return b"\n".join(parts)


async def database_text(db: Database) -> str:
    """Every value of every column of every table, as text."""
    from sqlalchemy import inspect, text

    parts: list[str] = []
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert "contact" in tables and "deadletter" in tables
        for table in tables:
            for row in (await conn.execute(text(f'SELECT * FROM "{table}"'))).all():
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        parts.append(bytes(value).decode("utf-8", "replace"))
                    else:
                        parts.append(json.dumps(value, default=str, ensure_ascii=False))
    return "\n".join(parts)


async def test_planted_secrets_leave_nothing_in_clear_in_redis_the_database_or_the_logs(
    configured: Settings,
    db: Database,
    real_redis: Any,
    tmp_path: Path,
    log_file: TextIO,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A secret goes in by every entrance (CSV, HTTP bulk, POST /v1/calls, the Redis job run by
    the real worker, a job for a misspelt function), the personalization records are written,
    then every Redis key, every database column and the logs are searched for it."""
    from arq import create_pool

    from jobs.worker import OrchestratorWorker, worker_options
    from orchestrator import keys
    from orchestrator.personalization.refresher import Refresher
    from orchestrator.redis_conn import redis_settings

    configure_logging(configured)
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(file=log_file),
        cache_logger_on_first_use=False,
    )
    caplog.set_level(logging.INFO)
    await make_campaign(db, "spring", config=CampaignPolicy().model_dump(mode="json"))

    csv_file = tmp_path / "stored.csv"
    csv_file.write_text(
        "external_id,phone_number,customer_name,secret__token\n"
        f"csv-1,+14155550111,Ada,{STORED['csv']}\n"
    )
    assert (await import_csv(db, configured, csv_file, "spring")).accepted == 1

    async with db.session() as s:
        token = await create_token(s, "crm", "crm")
    auth = {"Authorization": f"Bearer {token.secret}"}
    async with serve(create_app(configured)) as url, httpx.AsyncClient(base_url=url) as http:
        rows = [
            {
                "external_id": "bulk-1",
                "phone_number": "+14155550112",
                "variables": {"customer_name": "Bo", "secret__token": STORED["bulk"]},
            },
            {
                "external_id": "bulk-2",
                "phone_number": "nope",
                "variables": {"secret__token": STORED["bulk_rejected"]},
            },
        ]
        bulk = await http.post(
            "/v1/campaigns/spring/contacts",
            json={"contacts": rows},
            headers={**auth, "Idempotency-Key": "stored-1"},
        )
        assert bulk.status_code == 200, bulk.text
        called = await http.post(
            "/v1/calls",
            json={
                "campaign": "spring",
                "external_id": "call-1",
                "phone_number": "+14155550113",
                "variables": {"customer_name": "Cy", "secret__token": STORED["call_contact"]},
                "call": {"variables": {"secret__otp": STORED["call"]}},
            },
            headers={**auth, "Idempotency-Key": "stored-2"},
        )
        assert called.status_code == 202, called.text

    # The Redis job, as a producer sends it, run by the worker as deployed (its functions and
    # result policy), minus the background loops.
    queue = await create_pool(redis_settings(configured.redis_url))
    job = {
        "campaign": "spring",
        "external_id": "job-1",
        "phone_number": "+14155550114",
        "variables": {"customer_name": "Jo", "secret__token": STORED["job"]},
    }
    # Variables first: arq logs a job's arguments (cut at 80 characters) when it starts it.
    first = {
        "variables": {"secret__token": STORED["job_first"], "customer_name": "Al"},
        **{k: v for k, v in job.items() if k != "variables"},
        "external_id": "job-2",
        "phone_number": "+14155550115",
    }
    rejected = {**job, "phone_number": "x", "variables": {"secret__t": STORED["job_rejected"]}}
    name = configured.queue_name
    for payload in (job, first, rejected):
        assert await queue.enqueue_job(keys.JOB_ENQUEUE_CALL, payload, _queue_name=name)
    # A producer's typo: arq finds no such function and fails the job.
    typo = {**job, "variables": {"secret__token": STORED["job_typo"]}}
    assert await queue.enqueue_job("enqueue_cal", typo, _queue_name=name)

    async def bare_startup(ctx: dict[str, Any]) -> None:
        configure_logging(configured)
        structlog.configure(
            logger_factory=structlog.PrintLoggerFactory(file=log_file),
            cache_logger_on_first_use=False,
        )
        ctx["deps"] = build_deps(configured, ctx["redis"], queue=ctx["redis"])

    async def bare_shutdown(ctx: dict[str, Any]) -> None:
        await close_deps(ctx["deps"])

    worker = OrchestratorWorker(
        **{
            **worker_options(configured),
            "on_startup": bare_startup,
            "on_shutdown": bare_shutdown,
            "burst": True,
            "handle_signals": False,
        }
    )
    try:
        await worker.main()
    finally:
        await worker.close()
    assert (worker.jobs_complete, worker.jobs_failed) == (3, 1)

    # The inbound answers of every known number, precomputed into Redis.
    refresher = Refresher(
        configured, db, queue, SecretBox([k.get_secret_value() for k in configured.secret_keys])
    )
    assert await refresher.rebuild() > 0
    await queue.aclose()

    async with db.session() as s:
        from orchestrator.store.models import Contact, DeadLetter

        stored = {c.external_id for c in (await s.exec(select(Contact))).all()}
        letters = (await s.exec(select(DeadLetter))).all()
    assert {"csv-1", "bulk-1", "call-1", "job-1", "job-2"} <= stored
    assert len(letters) == 1  # the refused job, kept masked

    in_redis = await redis_text(real_redis)
    assert b"spring" in in_redis or b"personalization" in in_redis  # the scan reads values
    in_db = await database_text(db)
    assert "Jo" in in_db  # the scan reads the tables
    log_file.flush()
    captured = capfd.readouterr()
    logs = caplog.text + captured.out + captured.err + (tmp_path / "app.log").read_text()
    assert "enqueue_call" in logs  # arq's own log lines were captured
    for where, secret in STORED.items():
        assert secret.encode() not in in_redis, f"{where} secret in clear in Redis"
        assert secret not in in_db, f"{where} secret in clear in the database"
        assert secret not in logs, f"{where} secret in clear in the logs"
