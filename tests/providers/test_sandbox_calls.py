"""Simulated calls end to end over loopback: lifecycles, signed webhooks, concurrency, bursting."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from orchestrator.dev.sandbox.config import OUTCOMES, SandboxConfig
from orchestrator.dev.sandbox.server import running
from orchestrator.dev.sandbox.sink import WebhookSink, running_sink
from orchestrator.settings import SANDBOX_API_KEY

TWILIO = "/v1/convai/twilio/outbound-call"
SIP = "/v1/convai/sip-trunk/outbound-call"
FAST = {"time_scale": 0.005}
#: Calls that stay live for the whole test.
SLOW = {"time_scale": 1.0, "ring_secs": 600.0}

Env = tuple[WebhookSink, httpx.AsyncClient]
Start = Callable[..., AbstractAsyncContextManager[Env]]


def only(outcome: str) -> dict[str, float]:
    """Outcome weights that always pick `outcome`."""
    return {name: 1.0 if name == outcome else 0.0 for name in OUTCOMES}


@pytest.fixture
def sandbox() -> Start:
    """Factory: a webhook sink, a sandbox sending to it, and a keyed client to the sandbox."""

    @asynccontextmanager
    async def start(**knobs: Any) -> AsyncIterator[Env]:
        async with running_sink() as (sink, url):
            config = SandboxConfig(port=0, seed=5, webhook_url=url, **knobs)
            async with (
                running(config) as served,
                httpx.AsyncClient(
                    base_url=served.base_url, headers={"xi-api-key": SANDBOX_API_KEY}
                ) as client,
            ):
                yield sink, client

    return start


def body(number: str, **extra: Any) -> dict[str, Any]:
    """A valid outbound-call body."""
    return {"agent_id": "agent_1", "agent_phone_number_id": "phnum_1", "to_number": number, **extra}


async def dial(client: httpx.AsyncClient, number: str, path: str = TWILIO) -> dict[str, Any]:
    """Place a call that must be accepted; its JSON answer."""
    answer = await client.post(path, json=body(number))
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def summary(client: httpx.AsyncClient) -> dict[str, Any]:
    """`GET /sandbox/summary`."""
    result: dict[str, Any] = (await client.get("/sandbox/summary")).json()
    return result


async def record(client: httpx.AsyncClient, conversation_id: str) -> dict[str, Any]:
    """`GET /v1/convai/conversations/{id}`."""
    result: dict[str, Any] = (
        await client.get(f"/v1/convai/conversations/{conversation_id}")
    ).json()
    return result


async def settled(client: httpx.AsyncClient, within: float = 20.0) -> dict[str, Any]:
    """The summary once every call has finished and every webhook was handled."""
    deadline = time.monotonic() + within
    while not (counts := await summary(client))["settled"]:
        assert time.monotonic() < deadline, f"sandbox did not settle: {counts}"
        await asyncio.sleep(0.02)
    return counts


# --- lifecycles and webhooks --------------------------------------------------------------


async def test_successful_call_goes_done_and_sends_signed_transcription_then_audio(
    sandbox: Start,
) -> None:
    async with sandbox(
        **FAST, **only("success"), jitter=0, talk_secs=90, usd_per_credit=0.0001
    ) as (
        sink,
        client,
    ):
        placed = await dial(client, "+442079460001")
        assert await sink.wait_for(lambda s: len(s.events) == 2)
        [transcription] = sink.of_type("post_call_transcription")
        [audio] = sink.of_type("post_call_audio")
        data = transcription.data
        assert data["conversation_id"] == placed["conversation_id"]
        assert data == await record(client, placed["conversation_id"])  # same shape as GET
        assert data["status"] == "done"
        assert data["analysis"]["call_successful"] == "success"
        assert data["analysis"]["data_collection_results"]["interested"]["value"] is True
        assert data["analysis"]["data_collection_results"]["opt_out"]["value"] is False
        meta = data["metadata"]
        assert meta["call_duration_secs"] == 90  # unscaled simulated seconds
        assert meta["cost"] == 600  # ceil(1.5 min * 400 credits/min)
        assert meta["cost_fiat"] == pytest.approx(0.06)
        assert meta["termination_reason"]
        assert meta["accepted_time_unix_secs"] >= meta["start_time_unix_secs"]
        assert [turn["role"] for turn in data["transcript"]][:2] == ["agent", "user"]
        assert isinstance(transcription.event_timestamp, int)
        assert transcription.signed_at >= transcription.event_timestamp
        assert transcription.chunked is False
        assert audio.chunked is True
        assert set(audio.data) == {"agent_id", "conversation_id", "full_audio"}
        assert sink.rejected == 0

        [log] = (await client.get("/sandbox/dials")).json()["dials"]
        assert log["outcome"] == "success"
        assert log["ended_at"] >= log["started_at"]


async def test_voicemail_is_a_connected_call_not_an_initiation_failure(sandbox: Start) -> None:
    async with sandbox(**FAST, **only("voicemail"), send_audio=False) as (sink, client):
        placed = await dial(client, "+442079460002")
        assert await sink.wait_for(lambda s: len(s.events) == 1)
        [event] = sink.events
        assert event.type == "post_call_transcription"
        data = event.data
        assert data["conversation_id"] == placed["conversation_id"]
        assert data["status"] == "done"
        tools = [tool["tool_name"] for turn in data["transcript"] for tool in turn["tool_calls"]]
        assert "voicemail_detection" in tools
        assert "voicemail" in data["metadata"]["termination_reason"].lower()
        assert data["analysis"]["call_successful"] in ("unknown", "failure")
        assert (await settled(client))["outcomes"]["voicemail"] == 1


@pytest.mark.parametrize(
    ("outcome", "reason", "twilio_status", "sip_code"),
    [("busy", "busy", "busy", 486), ("no_answer", "no-answer", "no-answer", 480)],
)
async def test_unanswered_calls_fail_and_send_call_initiation_failure(
    sandbox: Start, outcome: str, reason: str, twilio_status: str, sip_code: int
) -> None:
    async with sandbox(**FAST, **only(outcome)) as (sink, client):
        twilio = await dial(client, "+442079460003")
        sip = await dial(client, "+442079460004", SIP)
        assert await sink.wait_for(lambda s: len(s.events) == 2)
        assert {event.type for event in sink.events} == {"call_initiation_failure"}
        by_id = {event.conversation_id: event.data for event in sink.events}
        twilio_data = by_id[twilio["conversation_id"]]
        assert twilio_data["agent_id"] == "agent_1"
        assert twilio_data["failure_reason"] == reason
        assert twilio_data["metadata"]["type"] == "twilio"
        form = twilio_data["metadata"]["body"]
        assert (form["CallSid"], form["CallStatus"], form["To"]) == (
            twilio["callSid"],
            twilio_status,
            "+442079460003",
        )
        sip_data = by_id[sip["conversation_id"]]
        assert sip_data["failure_reason"] == reason
        assert sip_data["metadata"]["type"] == "sip"
        assert sip_data["metadata"]["body"]["sip_status_code"] == sip_code
        assert sip_data["metadata"]["body"]["call_id"] == sip["sip_call_id"]

        failed = await record(client, twilio["conversation_id"])
        assert failed["status"] == "failed"
        assert failed["analysis"] is None
        assert failed["metadata"]["call_duration_secs"] == 0
        assert failed["metadata"]["cost"] == 0
        counts = await settled(client)
        assert counts["outcomes"][outcome] == 2


async def test_status_moves_from_initiated_to_in_progress(sandbox: Start) -> None:
    async with sandbox(
        time_scale=1.0, ring_secs=0.0, talk_secs=600, jitter=0, **only("success")
    ) as (_, client):
        placed = await dial(client, "+442079460005")
        deadline = time.monotonic() + 20
        while (current := await record(client, placed["conversation_id"]))["status"] == "initiated":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert current["status"] == "in-progress"
        assert "accepted_time_unix_secs" in current["metadata"]
        assert (await summary(client))["live"] == 1


async def test_transfer_and_opt_out_show_in_the_record(sandbox: Start) -> None:
    async with sandbox(**FAST, **only("success"), transfer_rate=1.0, send_audio=False) as (
        sink,
        client,
    ):
        await dial(client, "+442079460006")
        assert await sink.wait_for(lambda s: len(s.events) == 1)
        tools = [
            t["tool_name"] for turn in sink.events[0].data["transcript"] for t in turn["tool_calls"]
        ]
        assert "transfer_to_number" in tools
    async with sandbox(**FAST, **only("failure"), opt_out_rate=1.0, send_audio=False) as (
        sink,
        client,
    ):
        await dial(client, "+442079460007")
        assert await sink.wait_for(lambda s: len(s.events) == 1)
        collected = sink.events[0].data["analysis"]["data_collection_results"]
        assert collected["opt_out"]["value"] is True


async def test_mixed_run_summary_agrees_with_dials_and_webhooks(sandbox: Start) -> None:
    async with sandbox(**FAST, concurrency=50) as (sink, client):
        placed = await asyncio.gather(*(dial(client, f"+4420794601{i:02d}") for i in range(40)))
        counts = await settled(client)
        dials = (await client.get("/sandbox/dials")).json()["dials"]
        assert [d["dial_id"] for d in dials] == list(range(1, 41))
        assert {d["conversation_id"] for d in dials} == {p["conversation_id"] for p in placed}
        by_outcome = Counter(d["outcome"] for d in dials)
        assert counts["outcomes"] == {name: by_outcome[name] for name in OUTCOMES}
        assert len(by_outcome) >= 3  # the default weights mix outcomes
        answered = sum(by_outcome[name] for name in ("success", "failure", "voicemail"))
        assert counts["dials"] == 40 and counts["live"] == 0
        assert counts["max_live_per_number"] == 1
        assert counts["overlapping_number_dials"] == 0
        assert counts["rejected_concurrency"] == 0
        assert len(sink.of_type("post_call_transcription")) == answered
        assert len(sink.of_type("post_call_audio")) == answered
        assert len(sink.of_type("call_initiation_failure")) == 40 - answered
        assert counts["webhooks"]["sent"] == counts["webhooks"]["delivered"] == len(sink.events)


async def test_dialling_a_number_that_is_still_live_is_counted(sandbox: Start) -> None:
    async with sandbox(**SLOW) as (_, client):
        await dial(client, "+442079460008")
        await dial(client, "+442079460008")
        counts = await summary(client)
        assert counts["max_live_per_number"] == 2
        assert counts["overlapping_number_dials"] == 1


# --- concurrency and bursting -------------------------------------------------------------


async def test_third_concurrent_call_is_refused_and_not_placed(sandbox: Start) -> None:
    async with sandbox(**SLOW, concurrency=2) as (_, client):
        await dial(client, "+442079460011")
        await dial(client, "+442079460012")
        refused = await client.post(TWILIO, json=body("+442079460013"))
        assert refused.status_code == 429
        assert refused.json()["detail"]["status"] == "too_many_concurrent_requests"
        dials = (await client.get("/sandbox/dials")).json()["dials"]
        assert [d["to_number"] for d in dials] == ["+442079460011", "+442079460012"]
        counts = await summary(client)
        assert (counts["rejected_concurrency"], counts["peak_live"], counts["dials"]) == (1, 2, 2)


async def test_a_slot_frees_when_a_call_ends(sandbox: Start) -> None:
    async with sandbox(**FAST, **only("failed"), concurrency=1) as (sink, client):
        await dial(client, "+442079460014")
        assert await sink.wait_for(lambda s: len(s.events) == 1)  # sent after the slot is freed
        await dial(client, "+442079460015")
        assert (await summary(client))["rejected_concurrency"] == 0


async def test_bursting_allows_three_times_the_limit_and_marks_burst_calls(sandbox: Start) -> None:
    async with sandbox(**SLOW, concurrency=2, bursting=True) as (_, client):
        placed = [await dial(client, f"+4420794600{20 + i}") for i in range(6)]
        refused = await client.post(TWILIO, json=body("+442079460099"))
        assert refused.status_code == 429
        assert refused.json()["detail"]["status"] == "too_many_concurrent_requests"
        dials = (await client.get("/sandbox/dials")).json()["dials"]
        assert [d["is_burst"] for d in dials] == [False, False, True, True, True, True]
        for answer, expected in zip(placed, [False, False, True, True, True, True], strict=True):
            charging = (await record(client, answer["conversation_id"]))["metadata"]["charging"]
            assert charging["is_burst"] is expected
        counts = await summary(client)
        assert (counts["burst_dials"], counts["dials"], counts["rejected_concurrency"]) == (4, 6, 1)


async def test_burst_calls_cost_double(sandbox: Start) -> None:
    async with sandbox(
        time_scale=0.05,
        ring_secs=1,
        talk_secs=60,
        jitter=0,
        concurrency=1,
        bursting=True,
        send_audio=False,
        **only("success"),
    ) as (sink, client):
        first = await dial(client, "+442079460031")
        second = await dial(client, "+442079460032")
        dials = (await client.get("/sandbox/dials")).json()["dials"]
        assert [d["is_burst"] for d in dials] == [False, True]
        assert await sink.wait_for(lambda s: len(s.events) == 2)
        costs = {e.conversation_id: e.data["metadata"]["cost"] for e in sink.events}
        per_call = math.ceil(60 / 60 * 400)
        assert costs == {
            first["conversation_id"]: per_call,
            second["conversation_id"]: 2 * per_call,
        }
