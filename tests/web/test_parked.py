"""Parked attempts and webhook events are visible — CLI, API, /metrics — and can be re-queued."""

from __future__ import annotations

import asyncio

from sqlalchemy import update
from sqlmodel import col
from typer.testing import CliRunner

from orchestrator.main import app
from orchestrator.store.models import Attempt, Contact, WebhookEvent
from tests.support.factories import make_campaign, make_contact
from tests.web.api_support import Api

REASON = "dynamic_variables.note: invalid text at character 1: a lone surrogate (U+D83D)"


async def _plant(api: Api) -> tuple[int, int, int]:
    """A parked attempt (its contact parked too), a parked event and an ordinary attempt."""
    campaign = await make_campaign(api.db, "spring")
    contact, parked = await make_contact(
        api.db, campaign, "crm-1", attempt_state="parked", disposition="parked"
    )
    _, waiting = await make_contact(api.db, campaign, "crm-2", "+14155550124")
    assert parked and parked.id and waiting and waiting.id and contact.id
    async with api.db.session() as s:
        await s.exec(
            update(Attempt)
            .where(col(Attempt.id) == parked.id)
            .values(error=REASON, dial_failures=3, dial_failure_kind="InitiationRefused")
        )
        event = WebhookEvent(
            event_type="post_call_transcription",
            conversation_id="conv_1",
            body=b"{}",
            status="parked",
            failures=3,
            error="KeyError: 'data'",
        )
        s.add(event)
        await s.flush()
        assert event.id is not None
        return parked.id, event.id, contact.id


def _cli(api: Api, *args: str) -> str:
    # Wide enough that no cell of the table wraps.
    env = {"ORCH_DATABASE_URL": api.settings.database_url, "COLUMNS": "250"}
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


async def test_parked_records_are_listed_in_the_api_the_cli_and_metrics(api: Api) -> None:
    attempt_id, event_id, _ = await _plant(api)
    supervisor = api.client(api.supervisor)
    async with supervisor:
        listed = await supervisor.get("/v1/parked")
    assert listed.status_code == 200, listed.text
    [attempt] = listed.json()["attempts"]
    assert (attempt["attempt_id"], attempt["campaign"], attempt["external_id"]) == (
        attempt_id,
        "spring",
        "crm-1",
    )
    assert (attempt["failures"], attempt["reason"]) == (3, REASON)
    [event] = listed.json()["events"]
    assert (event["event_id"], event["reason"]) == (event_id, "KeyError: 'data'")
    assert "/v1/parked" in (await api.http.get("/openapi.json")).json()["paths"]

    scraped = (await api.http.get("/metrics")).text
    assert 'orchestrator_parked{kind="attempt"} 1.0' in scraped
    assert 'orchestrator_parked{kind="webhook_event"} 1.0' in scraped
    assert 'orchestrator_attempts{state="parked"} 1.0' in scraped

    shown = await asyncio.to_thread(_cli, api, "parked")
    assert "Parked attempts (1)" in shown and "Parked webhook events (1)" in shown
    assert "crm-1" in shown and REASON in shown


async def test_a_parked_attempt_is_requeued_by_the_api_and_an_event_by_the_cli(api: Api) -> None:
    attempt_id, event_id, contact_id = await _plant(api)
    supervisor = api.client(api.supervisor)
    async with supervisor:
        forbidden = await supervisor.post(f"/v1/parked/{attempt_id}/requeue")
    assert forbidden.status_code == 403
    answer = await api.http.post(f"/v1/parked/{attempt_id}/requeue")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"id": attempt_id, "state": "scheduled"}
    assert (await api.http.post(f"/v1/parked/{attempt_id}/requeue")).status_code == 404
    async with api.db.session() as s:
        attempt = await s.get(Attempt, attempt_id)
        contact = await s.get(Contact, contact_id)
    assert attempt is not None and contact is not None
    assert (attempt.state, attempt.dial_failures, attempt.error) == ("scheduled", 0, None)
    assert contact.disposition == "pending"

    done = await asyncio.to_thread(_cli, api, "parked", "requeue", "--event", str(event_id))
    assert "1 webhook event(s) re-queued" in done
    async with api.db.session() as s:
        event = await s.get(WebhookEvent, event_id)
    assert event is not None and (event.status, event.failures) == ("received", 0)
    assert "Parked attempts (0)" in await asyncio.to_thread(_cli, api, "parked")
