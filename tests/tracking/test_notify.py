"""CRM notifications: written with the final disposition, signed, retried, dead-lettered."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI, Request
from pydantic import ValidationError
from sqlmodel import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from typer.testing import CliRunner

from orchestrator.deps import Deps, build_deps, close_deps
from orchestrator.domain.campaign_policy import Notifications
from orchestrator.lifecycle import notify
from orchestrator.main import app as cli
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, DeadLetter, Notification, WebhookEvent
from orchestrator.store.tokens import create_token
from orchestrator.tracking.events import process_event
from orchestrator.web.app import create_app
from tests.support.factories import make_campaign, make_contact
from tests.support.servers import serve


@pytest.fixture
async def deps(settings: Settings, db: Database, fake_redis: Any) -> AsyncIterator[Deps]:
    built = build_deps(settings, fake_redis)
    yield built
    await close_deps(built)


def crm_app(received: list[tuple[bytes, dict[str, str]]], status: list[int]) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Any:
        received.append((await request.body(), dict(request.headers)))
        from fastapi.responses import JSONResponse

        return JSONResponse({}, status_code=status[0])

    return app


async def finish_a_call(db: Database, deps: Deps, url: str) -> None:
    campaign = await make_campaign(
        db, config={"notifications": {"url": url, "secret_env": "CRM_HOOK_SECRET"}}
    )
    _, attempt = await make_contact(db, campaign, attempt_state="initiated")
    assert attempt is not None
    async with db.session() as s:
        row = await s.get(Attempt, attempt.id)
        assert row is not None
        row.conversation_id = "conv_n"
        data = {
            "conversation_id": "conv_n",
            "status": "done",
            "metadata": {"call_duration_secs": 42},
            "analysis": {"call_successful": "success", "transcript_summary": "Renewed."},
        }
        event = WebhookEvent(
            event_type="post_call_transcription",
            conversation_id="conv_n",
            body=json.dumps({"type": "post_call_transcription", "data": data}).encode(),
        )
        s.add(event)
        await s.flush()
        event_id = event.id
    assert event_id is not None
    await process_event(deps, event_id)


CRM_SECRET = "whsec_" + base64.b64encode(b"crm-notification-test-key-32byte").decode()


async def test_final_disposition_is_delivered_signed(
    db: Database, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signed the Standard Webhooks way: the package's own `Webhook.verify` accepts it."""
    monkeypatch.setenv("CRM_HOOK_SECRET", CRM_SECRET)
    received: list[tuple[bytes, dict[str, str]]] = []
    async with serve(crm_app(received, [200])) as url, httpx.AsyncClient() as http:
        await finish_a_call(db, deps, f"{url}/hook")
        assert await notify.deliver_due(deps, http) == 1
        # Delivered notifications are not sent again.
        assert await notify.deliver_due(deps, http) == 0
    assert len(received) == 1
    body, headers = received[0]
    payload = Webhook(CRM_SECRET).verify(body, headers)
    assert payload["disposition"] == "reached"
    assert payload["summary"] == "Renewed."
    assert payload["external_id"] == "crm-1"
    assert headers["webhook-id"].startswith("msg_")
    assert headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"another-key-of-32-bytes-.......").decode()).verify(
            body, headers
        )
    with pytest.raises(WebhookVerificationError):
        Webhook(CRM_SECRET).verify(body.replace(b"reached", b"REACHED"), headers)


async def test_a_retry_carries_the_same_id(
    db: Database, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CRM deduplicates by `webhook-id`: every try of one notification has the same."""
    monkeypatch.setenv("CRM_HOOK_SECRET", CRM_SECRET)
    received: list[tuple[bytes, dict[str, str]]] = []
    status = [500]
    async with serve(crm_app(received, status)) as url, httpx.AsyncClient() as http:
        await finish_a_call(db, deps, f"{url}/hook")
        assert await notify.deliver_due(deps, http) == 0
        async with db.session() as s:
            row = (await s.exec(select(Notification))).one()
            row.next_attempt_at = row.created_at  # due again now
        status[0] = 200
        assert await notify.deliver_due(deps, http) == 1
    assert len(received) == 2
    ids = {headers["webhook-id"] for _, headers in received}
    assert len(ids) == 1
    for body, headers in received:
        Webhook(CRM_SECRET).verify(body, headers)


@pytest.mark.parametrize("secret", [None, "", "crm-secret", "whsec_c2hvcnQ="])
async def test_in_prod_a_notification_without_a_usable_secret_is_not_sent(
    db: Database, deps: Deps, monkeypatch: pytest.MonkeyPatch, secret: str | None
) -> None:
    """Unset, empty, not a `whsec_` secret, or one too short: nothing goes out, and why is kept."""
    if secret is None:
        monkeypatch.delenv("CRM_HOOK_SECRET", raising=False)
    else:
        monkeypatch.setenv("CRM_HOOK_SECRET", secret)
    deps.settings = deps.settings.model_copy(update={"env": "prod"})
    received: list[tuple[bytes, dict[str, str]]] = []
    async with serve(crm_app(received, [200])) as url, httpx.AsyncClient() as http:
        await finish_a_call(db, deps, f"{url}/hook")
        assert await notify.deliver_due(deps, http) == 0
    assert received == []
    async with db.session() as s:
        row = (await s.exec(select(Notification))).one()
    assert row.status == "pending" and row.last_error is not None
    assert row.last_error.startswith("not sent:") and "CRM_HOOK_SECRET" in row.last_error
    if secret:
        assert secret not in row.last_error


async def test_elsewhere_an_unsigned_notification_is_sent_with_a_warning(
    db: Database, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRM_HOOK_SECRET", raising=False)
    received: list[tuple[bytes, dict[str, str]]] = []
    async with serve(crm_app(received, [200])) as url, httpx.AsyncClient() as http:
        await finish_a_call(db, deps, f"{url}/hook")
        with structlog.testing.capture_logs() as logs:
            assert await notify.deliver_due(deps, http) == 1
    assert "webhook-signature" not in received[0][1]
    [warning] = [e for e in logs if e["event"] == "notify.sent_unsigned"]
    assert warning["log_level"] == "warning" and "CRM_HOOK_SECRET" in warning["problem"]


async def test_start_up_refuses_in_prod_and_warns_elsewhere(
    db: Database, settings: Settings
) -> None:
    await make_campaign(
        db, "signed", config={"notifications": {"url": "https://crm.test/a", "secret_env": "A"}}
    )
    await make_campaign(db, "nameless", config={"notifications": {"url": "https://crm.test/b"}})
    await make_campaign(
        db, "unset", config={"notifications": {"url": "https://crm.test/c", "secret_env": "C"}}
    )
    await make_campaign(db, "quiet", config={"notifications": {"secret_env": "D"}})
    env = {"A": CRM_SECRET, "D": ""}
    prod = settings.model_copy(update={"env": "prod"})
    with pytest.raises(notify.UnsignedNotifications) as refused:
        await notify.check_signing(db, prod, env)
    message = str(refused.value)
    assert "refusing to start" in message
    assert "'nameless'" in message and "'unset'" in message and "environment variable C" in message
    assert "'signed'" not in message and "'quiet'" not in message
    with structlog.testing.capture_logs() as logs:
        problems = await notify.check_signing(db, settings, env)
    assert len(problems) == 2
    assert [e["log_level"] for e in logs if e["event"] == "notify.unsigned_campaign"] == [
        "warning",
        "warning",
    ]
    with pytest.raises(notify.UnsignedNotifications) as refused:
        await notify.check_signing(db, prod, {**env, "C": CRM_SECRET})
    assert "'unset'" not in str(refused.value) and "'nameless'" in str(refused.value)
    assert CRM_SECRET not in str(refused.value)


async def test_the_worker_does_not_start_in_prod_without_a_secret(
    db: Database, settings: Settings, fake_redis: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from jobs.worker import startup

    await make_campaign(db, "nameless", config={"notifications": {"url": "https://crm.test/b"}})
    ctx: dict[str, Any] = {"settings": settings.model_copy(update={"env": "prod"})}
    ctx["redis"] = fake_redis
    saved = structlog.get_config()  # startup configures logging onto captured stderr
    try:
        with pytest.raises(SystemExit) as stopped:
            await startup(ctx)
    finally:
        structlog.configure(**saved)
    assert stopped.value.code == 2
    assert "refusing to start" in capsys.readouterr().err
    assert "loops" not in ctx  # nothing was started


def test_a_secret_pasted_instead_of_a_variable_name_is_refused_without_echo() -> None:
    with pytest.raises(ValidationError) as caught:
        Notifications(url="https://crm.test/x", secret_env=CRM_SECRET)
    assert CRM_SECRET not in str(caught.value.errors(include_input=False))


async def test_failures_back_off_then_dead_letter(db: Database, deps: Deps) -> None:
    received: list[tuple[bytes, dict[str, str]]] = []
    async with serve(crm_app(received, [500])) as url, httpx.AsyncClient() as http:
        await finish_a_call(db, deps, f"{url}/hook")
        assert await notify.deliver_due(deps, http) == 0
        async with db.session() as s:
            row = (await s.exec(select(Notification))).one()
            assert (row.status, row.tries, row.last_error) == ("pending", 1, "HTTP 500")
            assert row.next_attempt_at > row.created_at
            # Not due yet: nothing is sent before the backoff has passed.
        assert await notify.deliver_due(deps, http) == 0
        assert len(received) == 1
        async with db.session() as s:
            row = (await s.exec(select(Notification))).one()
            row.tries = notify.MAX_TRIES - 1
            row.next_attempt_at = row.created_at
        await notify.deliver_due(deps, http)
    async with db.session() as s:
        row = (await s.exec(select(Notification))).one()
        dead = (await s.exec(select(DeadLetter))).all()
    assert row.status == "dead"
    assert len(dead) == 1
    assert dead[0].source == "crm-notification"
    assert "HTTP 500" in dead[0].reason


async def test_a_campaign_that_cannot_sign_is_refused_in_prod(
    db: Database, settings: Settings, redis_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Created or changed over HTTP: 422 naming `notifications.secret_env` in prod."""
    monkeypatch.setenv("CRM_HOOK_SECRET", CRM_SECRET)
    monkeypatch.delenv("CRM_MISSING", raising=False)
    prod = settings.model_copy(update={"env": "prod", "redis_url": redis_server})
    async with db.session() as s:
        token = await create_token(s, "crm", "crm")
    auth = {"Authorization": f"Bearer {token.secret}"}
    async with serve(create_app(prod)) as url, httpx.AsyncClient(base_url=url) as http:
        unsigned = await http.post(
            "/v1/campaigns",
            json={"name": "u", "notifications": {"url": "https://crm.test/h"}},
            headers=auth,
        )
        unset = await http.post(
            "/v1/campaigns",
            json={
                "name": "v",
                "notifications": {"url": "https://crm.test/h", "secret_env": "CRM_MISSING"},
            },
            headers=auth,
        )
        signed = await http.post(
            "/v1/campaigns",
            json={
                "name": "s",
                "notifications": {"url": "https://crm.test/h", "secret_env": "CRM_HOOK_SECRET"},
            },
            headers=auth,
        )
        unsigning = await http.patch(
            "/v1/campaigns/s", json={"notifications": {"secret_env": None}}, headers=auth
        )
    for refused in (unsigned, unset, unsigning):
        assert refused.status_code == 422, refused.text
        fields = [p["field"] for p in refused.json()["problems"]]
        assert fields == ["notifications.secret_env"]
    assert signed.status_code == 201, signed.text


def test_the_cli_warns_when_a_campaign_will_notify_unsigned(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"notifications": {"url": "https://crm.test/h"}}))
    env = {"ORCH_DATABASE_URL": settings.database_url, "ORCH_ENV": "dev"}
    result = CliRunner().invoke(cli, ["campaigns", "create", "w", "--config", str(policy)], env=env)
    assert result.exit_code == 0, result.output
    assert "UNSIGNED" in result.stderr and "notifications.secret_env" in result.stderr


@pytest.mark.parametrize("command", ["web", "worker"])
async def test_web_and_worker_refuse_to_start_in_prod_without_a_secret(
    db: Database, settings: Settings, redis_server: str, tmp_path: Path, command: str
) -> None:
    """As the Procfile starts them: one line naming the campaign, exit 2, nothing served."""
    await make_campaign(db, "nameless", config={"notifications": {"url": "https://crm.test/b"}})
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ORCH_", "ELEVENLABS_", "CRM_")) and k not in ("REDIS_URL", "PORT")
    }
    env.update(
        ORCH_ENV="prod",
        ORCH_PROVIDER_API_KEY="key-for-a-provider-never-called",
        ORCH_WEBHOOK_SECRETS="a-webhook-secret-that-is-no-placeholder",
        ORCH_DATABASE_URL=settings.database_url,
        ORCH_REDIS_URL=redis_server,
        ORCH_WEB_PORT="0",
    )
    done = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).parent / "orchestrator"), command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "refusing to start" in output and "'nameless'" in output, output
    assert "Traceback" not in output, output
