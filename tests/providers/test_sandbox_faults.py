"""Fault injection over loopback: lost, duplicated, delayed and retried webhooks; 429, 5xx and
answers lost after the call was placed.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from orchestrator.dev.sandbox.config import OUTCOMES, SandboxConfig
from orchestrator.dev.sandbox.server import RunningSandbox, running
from orchestrator.dev.sandbox.sink import WebhookSink, running_sink
from orchestrator.settings import SANDBOX_API_KEY

TWILIO = "/v1/convai/twilio/outbound-call"
KEY = {"xi-api-key": SANDBOX_API_KEY}

Env = tuple[WebhookSink, RunningSandbox, httpx.AsyncClient]
Start = Callable[..., AbstractAsyncContextManager[Env]]


def only(outcome: str) -> dict[str, float]:
    """Outcome weights that always pick `outcome`."""
    return {name: 1.0 if name == outcome else 0.0 for name in OUTCOMES}


#: Quick answered calls with one webhook each (no audio), so counts are easy to predict.
QUICK = {"time_scale": 0.005, "send_audio": False, **only("success")}
#: Calls that stay live for the whole test.
SLOW = {"time_scale": 1.0, "ring_secs": 600.0}


@pytest.fixture
def sandbox() -> Start:
    """Factory: a sink (optionally pre-built), a sandbox sending to it, and a keyed client."""

    @asynccontextmanager
    async def start(sink: WebhookSink | None = None, **knobs: Any) -> AsyncIterator[Env]:
        async with running_sink(sink) as (ready, url):
            config = SandboxConfig(port=0, seed=3, **{"webhook_url": url, **knobs})
            async with (
                running(config) as served,
                httpx.AsyncClient(base_url=served.base_url, headers=KEY) as client,
            ):
                yield ready, served, client

    return start


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def body(number: str, user_id: str | None = None) -> dict[str, Any]:
    """A valid outbound-call body, tied to `user_id` when given."""
    payload: dict[str, Any] = {
        "agent_id": "agent_1",
        "agent_phone_number_id": "phnum_1",
        "to_number": number,
    }
    if user_id:
        payload["conversation_initiation_client_data"] = {"user_id": user_id}
    return payload


async def dial_many(client: httpx.AsyncClient, count: int) -> list[str]:
    """Place `count` calls that must be accepted; their conversation ids."""
    ids = []
    for index in range(count):
        answer = await client.post(TWILIO, json=body(f"+4420794602{index:02d}"))
        assert answer.status_code == 200, answer.text
        ids.append(answer.json()["conversation_id"])
    return ids


async def settled(client: httpx.AsyncClient, within: float = 20.0) -> dict[str, Any]:
    """The summary once every call has finished and every webhook was handled."""
    deadline = time.monotonic() + within
    while not (counts := (await client.get("/sandbox/summary")).json())["settled"]:
        assert time.monotonic() < deadline, f"sandbox did not settle: {counts}"
        await asyncio.sleep(0.02)
    result: dict[str, Any] = counts
    return result


async def dial_log(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """`GET /sandbox/dials`."""
    result: list[dict[str, Any]] = (await client.get("/sandbox/dials")).json()["dials"]
    return result


# --- webhooks -----------------------------------------------------------------------------


async def test_drop_rate_one_sends_no_webhook(sandbox: Start) -> None:
    async with sandbox(**{**QUICK, "send_audio": True}, webhook_drop_rate=1.0) as (
        sink,
        _,
        client,
    ):
        await dial_many(client, 3)
        counts = await settled(client)
        assert counts["webhooks"]["dropped"] == 6  # transcription + audio for each call
        assert counts["webhooks"]["sent"] == 0
        assert sink.attempts == 0 and sink.events == []
        assert counts["outcomes"]["success"] == 3


async def test_duplicate_rate_one_sends_every_event_twice(sandbox: Start) -> None:
    async with sandbox(**QUICK, webhook_duplicate_rate=1.0) as (sink, _, client):
        ids = await dial_many(client, 3)
        counts = await settled(client)
        assert Counter(event.conversation_id for event in sink.events) == {i: 2 for i in ids}
        assert {event.type for event in sink.events} == {"post_call_transcription"}
        hooks = counts["webhooks"]
        assert (hooks["duplicated"], hooks["sent"], hooks["delivered"]) == (3, 6, 6)


async def test_delayed_webhooks_still_all_arrive_signed(sandbox: Start) -> None:
    async with sandbox(**QUICK, webhook_delay_secs=0.3) as (sink, _, client):
        ids = await dial_many(client, 8)
        counts = await settled(client)
        assert sorted(event.conversation_id or "" for event in sink.events) == sorted(ids)
        assert all(event.signed_at >= event.event_timestamp for event in sink.events)
        assert counts["webhooks"]["delivered"] == 8
        assert sink.rejected == 0


async def test_unreachable_receiver_is_counted_and_the_sandbox_keeps_serving(
    sandbox: Start,
) -> None:
    async with sandbox(**QUICK, webhook_url=f"http://127.0.0.1:{closed_port()}/hook") as (
        _,
        _served,
        client,
    ):
        await dial_many(client, 2)
        counts = await settled(client)
        assert counts["webhooks"]["failed"] == counts["webhooks"]["sent"] == 2
        assert counts["webhooks"]["delivered"] == 0
        assert (await client.get("/sandbox/health")).json()["status"] == "ok"
        await dial_many(client, 1)


async def test_failed_delivery_is_not_retried_by_default(sandbox: Start) -> None:
    async with sandbox(WebhookSink(fail_first=1), **QUICK) as (sink, _, client):
        await dial_many(client, 1)
        counts = await settled(client)
        assert sink.attempts == 1 and sink.events == []
        assert (counts["webhooks"]["failed"], counts["webhooks"]["delivered"]) == (1, 0)


async def test_retry_redelivers_after_5xx(sandbox: Start) -> None:
    async with sandbox(WebhookSink(fail_first=2), **QUICK, webhook_retry=True) as (
        sink,
        _,
        client,
    ):
        [conversation_id] = await dial_many(client, 1)
        counts = await settled(client)
        assert sink.attempts == 3
        assert [event.conversation_id for event in sink.events] == [conversation_id]
        assert (counts["webhooks"]["delivered"], counts["webhooks"]["failed"]) == (1, 0)


async def test_signature_refusal_is_not_retried(sandbox: Start) -> None:
    async with sandbox(**QUICK, webhook_retry=True, webhook_secret="not-the-receivers") as (
        sink,
        _,
        client,
    ):
        await dial_many(client, 1)
        counts = await settled(client)
        assert (sink.rejected, sink.attempts) == (1, 1)
        assert counts["webhooks"]["failed"] == 1


async def test_without_a_webhook_url_events_are_counted_not_sent(sandbox: Start) -> None:
    async with sandbox(**QUICK, webhook_url=None) as (sink, _, client):
        await dial_many(client, 2)
        counts = await settled(client)
        assert counts["webhooks"]["not_sent"] == 2
        assert counts["webhooks"]["sent"] == 0 and sink.attempts == 0


# --- dial faults --------------------------------------------------------------------------


async def test_injected_system_busy_places_nothing(sandbox: Start) -> None:
    async with sandbox(**SLOW, http_429_rate=1.0) as (_, _served, client):
        answer = await client.post(TWILIO, json=body("+442079460301"))
        assert answer.status_code == 429
        assert answer.json()["detail"]["status"] == "system_busy"
        assert float(answer.headers["retry-after"]) > 0
        assert await dial_log(client) == []
        counts = await settled(client)
        assert (counts["rejected_busy"], counts["rejected_concurrency"], counts["dials"]) == (
            1,
            0,
            0,
        )


async def test_injected_5xx_places_nothing(sandbox: Start) -> None:
    async with sandbox(**SLOW, http_5xx_rate=1.0) as (_, _served, client):
        answer = await client.post(TWILIO, json=body("+442079460302"))
        assert answer.status_code == 503
        assert await dial_log(client) == []
        counts = await settled(client)
        assert (counts["injected_5xx"], counts["dials"]) == (1, 0)


async def test_timeout_after_place_loses_the_answer_but_the_call_is_placed(
    sandbox: Start,
) -> None:
    async with sandbox(**SLOW, timeout_after_place_rate=1.0, timeout_after_place_secs=30) as (
        _,
        served,
        client,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await client.post(TWILIO, json=body("+442079460303", "crm-9"), timeout=0.5)
        [placed] = await dial_log(client)
        assert placed["to_number"] == "+442079460303"
        assert placed["user_id"] == "crm-9"
        counts = (await client.get("/sandbox/summary")).json()
        assert (counts["timeouts_after_place"], counts["dials"], counts["live"]) == (1, 1, 1)
        # The caller can reconcile: the conversation is listed under its own user id.
        listed = await client.get("/v1/convai/conversations", params={"user_id": "crm-9"})
        [row] = listed.json()["conversations"]
        assert row["conversation_id"] == placed["conversation_id"]
        assert served.sandbox.book.get(placed["conversation_id"]) is not None
