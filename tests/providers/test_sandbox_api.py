"""The sandbox's HTTP API over real loopback sockets: auth, validation, records, listing, audio."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from orchestrator.dev.sandbox.config import SandboxConfig
from orchestrator.dev.sandbox.server import RunningSandbox, running, running_app
from orchestrator.dev.sandbox.sink import running_sink
from orchestrator.settings import SANDBOX_API_KEY

TWILIO = "/v1/convai/twilio/outbound-call"
SIP = "/v1/convai/sip-trunk/outbound-call"
#: Calls that stay live for the whole test: ring and talk take minutes of wall time.
SLOW = {"time_scale": 1.0, "ring_secs": 600.0, "success": 1.0, "failure": 0, "voicemail": 0}

Client = tuple[RunningSandbox, httpx.AsyncClient]
Start = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture
def sandbox() -> Start:
    """Factory: serve a sandbox with the given knobs and open a keyed client to it."""

    @asynccontextmanager
    async def start(**knobs: Any) -> AsyncIterator[Client]:
        config = SandboxConfig(port=0, seed=11, **knobs)
        async with (
            running(config) as served,
            httpx.AsyncClient(
                base_url=served.base_url, headers={"xi-api-key": SANDBOX_API_KEY}
            ) as client,
        ):
            yield served, client

    return start


def body(number: str = "+442079460001", **extra: Any) -> dict[str, Any]:
    """A valid outbound-call body."""
    return {
        "agent_id": "agent_1",
        "agent_phone_number_id": "phnum_1",
        "to_number": number,
        **extra,
    }


def with_user(user_id: str, number: str, **variables: Any) -> dict[str, Any]:
    """A body whose conversation is tied to `user_id`."""
    data: dict[str, Any] = {"user_id": user_id}
    if variables:
        data["dynamic_variables"] = variables
    return body(number, conversation_initiation_client_data=data)


async def dials(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The sandbox's dial log."""
    response = await client.get("/sandbox/dials")
    assert response.status_code == 200
    result: list[dict[str, Any]] = response.json()["dials"]
    return result


async def ended_dials(client: httpx.AsyncClient, within: float = 20.0) -> list[dict[str, Any]]:
    """The dial log once every call in it has ended."""
    deadline = time.monotonic() + within
    while True:
        log = await dials(client)
        if all(dial["outcome"] is not None for dial in log):
            return log
        assert time.monotonic() < deadline, "calls did not end"
        await asyncio.sleep(0.02)


# --- auth ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "wrong-key"])
async def test_every_provider_route_wants_the_api_key(sandbox: Start, key: str | None) -> None:
    async with sandbox(**SLOW) as (served, _):
        headers = {"xi-api-key": key} if key else {}
        async with httpx.AsyncClient(base_url=served.base_url, headers=headers) as anonymous:
            answers = [
                await anonymous.post(TWILIO, json=body()),
                await anonymous.post(SIP, json={"to_number": "not a number"}),  # 401 before 422
                await anonymous.get("/v1/convai/conversations"),
                await anonymous.get("/v1/convai/conversations/conv_x"),
                await anonymous.get("/v1/convai/conversations/conv_x/audio"),
            ]
            for answer in answers:
                assert answer.status_code == 401
                assert answer.json()["detail"]["status"] == "invalid_api_key"
            assert (await anonymous.get("/sandbox/health")).status_code == 200
            assert (await anonymous.get("/sandbox/dials")).json() == {"dials": []}


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (body("4155550123"), "to_number"),
        (body("+1 415 555 0123"), "to_number"),
        (body("+1415"), "to_number"),
        (
            body(conversation_initiation_client_data={"dynamic_variables": {"addr": {"c": 1}}}),
            "dynamic_variables",
        ),
        (
            body(conversation_initiation_client_data={"dynamic_variables": {"tags": [1, 2]}}),
            "dynamic_variables",
        ),
        (
            body(conversation_initiation_client_data={"dynamic_variables": {"system__x": "1"}}),
            "dynamic_variables",
        ),
        ({"agent_phone_number_id": "p", "to_number": "+442079460001"}, "agent_id"),
    ],
)
async def test_invalid_dials_get_422_in_fastapi_shape_and_place_nothing(
    sandbox: Start, payload: dict[str, Any], field: str
) -> None:
    async with sandbox(**SLOW) as (_, client):
        for path in (TWILIO, SIP):
            answer = await client.post(path, json=payload)
            assert answer.status_code == 422
            problems = answer.json()["detail"]
            assert isinstance(problems, list) and problems
            assert {"loc", "msg", "type"} <= set(problems[0])
            assert field in problems[0]["loc"]
        assert await dials(client) == []


# --- placing and reading calls ------------------------------------------------------------


async def test_twilio_dial_answers_with_ids_and_the_record_shows_the_live_call(
    sandbox: Start,
) -> None:
    async with sandbox(**SLOW) as (served, client):
        payload = with_user("crm-7", "+442079460007", customer_name="Jane", secret__token="s3")
        payload["conversation_initiation_client_data"]["type"] = (
            "conversation_initiation_client_data"
        )
        answer = await client.post(TWILIO, json=payload)
        assert answer.status_code == 200
        placed = answer.json()
        assert placed["success"] is True
        assert placed["conversation_id"].startswith("conv_")
        assert placed["callSid"].startswith("CA") and len(placed["callSid"]) == 34
        int(placed["callSid"][2:], 16)  # 32 hex digits

        record = (await client.get(f"/v1/convai/conversations/{placed['conversation_id']}")).json()
        assert record["status"] == "initiated"
        assert record["agent_id"] == "agent_1"
        assert record["user_id"] == "crm-7"
        assert record["transcript"] == [] and record["analysis"] is None
        assert record["has_audio"] is False
        assert record["conversation_initiation_client_data"] == {
            "type": "conversation_initiation_client_data",
            "user_id": "crm-7",
            "dynamic_variables": {"customer_name": "Jane"},
        }
        meta = record["metadata"]
        assert abs(meta["start_time_unix_secs"] - time.time()) < 60
        assert meta["phone_call"] == {
            "type": "twilio",
            "direction": "outbound",
            "phone_number_id": "phnum_1",
            "agent_number": served.sandbox.config.agent_number,
            "external_number": "+442079460007",
            "call_sid": placed["callSid"],
        }
        assert meta["charging"]["is_burst"] is False

        [dial] = await dials(client)
        assert dial["kind"] == "twilio"
        assert dial["conversation_id"] == placed["conversation_id"]
        assert dial["call_sid"] == placed["callSid"]
        assert dial["user_id"] == "crm-7"
        assert dial["outcome"] is None and dial["ended_at"] is None
        assert (await client.get("/sandbox/summary")).json()["live"] == 1


async def test_sip_dial_answers_with_sip_call_id(sandbox: Start) -> None:
    async with sandbox(**SLOW) as (_, client):
        placed = (await client.post(SIP, json=body("+442079460002"))).json()
        assert set(placed) == {"success", "message", "conversation_id", "sip_call_id"}
        record = (await client.get(f"/v1/convai/conversations/{placed['conversation_id']}")).json()
        assert record["metadata"]["phone_call"]["type"] == "sip_trunking"
        assert record["metadata"]["phone_call"]["call_sid"] == placed["sip_call_id"]
        assert (await dials(client))[0]["kind"] == "sip_trunk"


async def test_unknown_conversation_is_404(sandbox: Start) -> None:
    async with sandbox(**SLOW) as (_, client):
        for path in (
            "/v1/convai/conversations/conv_nope",
            "/v1/convai/conversations/conv_nope/audio",
        ):
            answer = await client.get(path)
            assert answer.status_code == 404
            assert answer.json()["detail"]["status"] == "conversation_not_found"


async def test_list_filters_by_user_and_pages_newest_first_with_a_stable_cursor(
    sandbox: Start,
) -> None:
    async with sandbox(concurrency=20, **SLOW) as (_, client):
        alice: list[str] = []
        for i in range(5):
            placed = await client.post(TWILIO, json=with_user("alice", f"+4420794600{i:02d}"))
            alice.append(placed.json()["conversation_id"])
            await client.post(TWILIO, json=with_user("bob", f"+4420794601{i:02d}"))

        seen: list[str] = []
        params: dict[str, Any] = {"user_id": "alice", "page_size": 2}
        page = (await client.get("/v1/convai/conversations", params=params)).json()
        seen += [row["conversation_id"] for row in page["conversations"]]
        assert page["has_more"] is True
        # A new call between pages must not shift the pages already being read.
        await client.post(TWILIO, json=with_user("alice", "+442079460099"))
        while page["next_cursor"]:
            params["cursor"] = page["next_cursor"]
            page = (await client.get("/v1/convai/conversations", params=params)).json()
            seen += [row["conversation_id"] for row in page["conversations"]]
        assert page["has_more"] is False
        assert seen == list(reversed(alice))

        row = (await client.get("/v1/convai/conversations", params={"page_size": 1})).json()
        first = row["conversations"][0]
        assert {
            "agent_id",
            "conversation_id",
            "start_time_unix_secs",
            "call_duration_secs",
            "message_count",
            "status",
            "call_successful",
            "direction",
        } <= set(first)
        assert (first["status"], first["call_successful"], first["direction"]) == (
            "initiated",
            "unknown",
            "outbound",
        )

        assert len((await client.get("/v1/convai/conversations")).json()["conversations"]) == 11
        none = await client.get("/v1/convai/conversations", params={"agent_id": "agent_other"})
        assert none.json() == {"conversations": [], "has_more": False, "next_cursor": None}
        later = {"call_start_after_unix": int(time.time()) + 3600}
        assert (await client.get("/v1/convai/conversations", params=later)).json()[
            "conversations"
        ] == []
        earlier = {"call_start_before_unix": int(time.time()) - 3600}
        assert (await client.get("/v1/convai/conversations", params=earlier)).json()[
            "conversations"
        ] == []


@pytest.mark.parametrize("params", [{"page_size": 0}, {"page_size": 101}, {"cursor": "bogus!"}])
async def test_list_refuses_bad_paging(sandbox: Start, params: dict[str, Any]) -> None:
    async with sandbox(**SLOW) as (_, client):
        answer = await client.get("/v1/convai/conversations", params=params)
        assert answer.status_code == 422
        assert isinstance(answer.json()["detail"], list)


async def test_audio_is_mpeg_and_matches_the_audio_webhook(sandbox: Start) -> None:
    async with (
        running_sink() as (sink, url),
        sandbox(
            webhook_url=url,
            time_scale=0.005,
            success=1.0,
            failure=0,
            voicemail=0,
            no_answer=0,
            busy=0,
            failed=0,
            audio_bytes=8192,
        ) as (_, client),
    ):
        placed = (await client.post(TWILIO, json=body())).json()
        conversation_id = placed["conversation_id"]
        assert await sink.wait_for(lambda s: bool(s.of_type("post_call_audio")))
        answer = await client.get(f"/v1/convai/conversations/{conversation_id}/audio")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "audio/mpeg"
        assert answer.content.startswith(b"ID3")
        [event] = sink.of_type("post_call_audio")
        assert event.chunked is True
        assert base64.b64decode(event.data["full_audio"]) == answer.content
        record = (await client.get(f"/v1/convai/conversations/{conversation_id}")).json()
        assert record["has_audio"] is True


async def test_audio_is_404_for_a_call_that_never_connected(sandbox: Start) -> None:
    async with sandbox(
        time_scale=0.005, success=0, failure=0, voicemail=0, no_answer=0, busy=1.0, failed=0
    ) as (_, client):
        conversation_id = (await client.post(TWILIO, json=body())).json()["conversation_id"]
        assert (await ended_dials(client))[0]["outcome"] == "busy"
        answer = await client.get(f"/v1/convai/conversations/{conversation_id}/audio")
        assert answer.status_code == 404
        record = (await client.get(f"/v1/convai/conversations/{conversation_id}")).json()
        assert record["status"] == "failed"
        assert record["has_audio"] is False


async def test_reset_forgets_calls_and_counters(sandbox: Start) -> None:
    async with sandbox(**SLOW) as (_, client):
        conversation_id = (await client.post(TWILIO, json=body())).json()["conversation_id"]
        assert (await client.post("/sandbox/reset")).status_code == 200
        assert await dials(client) == []
        summary = (await client.get("/sandbox/summary")).json()
        assert (summary["dials"], summary["live"], summary["peak_live"]) == (0, 0, 0)
        assert (await client.get(f"/v1/convai/conversations/{conversation_id}")).status_code == 404
        assert (await client.post(TWILIO, json=body())).status_code == 200
        assert [d["dial_id"] for d in await dials(client)] == [1]


# --- inbound personalization --------------------------------------------------------------


async def test_inbound_rings_the_personalization_webhook_and_judges_answers(
    sandbox: Start,
) -> None:
    seen: list[tuple[dict[str, Any], str | None]] = []
    answers: list[tuple[int, Any]] = [
        (200, {"type": "conversation_initiation_client_data", "dynamic_variables": {"n": "Jo"}}),
        (200, {"dynamic_variables": {"n": "Jo"}}),
        (200, {"type": "conversation_initiation_client_data", "dynamic_variables": {"a": [1]}}),
        (500, {"detail": "boom"}),
    ]
    personalization = FastAPI()

    @personalization.post("/personalize")
    async def personalize(request: Request) -> JSONResponse:
        seen.append((await request.json(), request.headers.get("x-token")))
        status, answer = answers[len(seen) - 1]
        return JSONResponse(answer, status_code=status)

    async with running_app(personalization) as receiver:
        url = receiver.base_url + "/personalize"
        async with sandbox(
            **SLOW, personalization_url=url, personalization_headers={"x-token": "t0k"}
        ) as (_, client):
            call = {"agent_id": "agent_1", "caller_id": "+442079460050"}
            verdicts = [(await client.post("/sandbox/inbound", json=call)).json() for _ in answers]
            summary = (await client.get("/sandbox/summary")).json()

    assert [v["accepted"] for v in verdicts] == [True, False, False, False]
    assert verdicts[0]["client_data"]["dynamic_variables"] == {"n": "Jo"}
    assert verdicts[0]["problems"] == []
    assert "type" in verdicts[1]["problems"][0]
    assert any("dynamic_variables" in problem for problem in verdicts[2]["problems"])
    assert verdicts[3]["status_code"] == 500
    request, token = seen[0]
    assert set(request) == {"caller_id", "agent_id", "called_number", "call_sid"}
    assert request["caller_id"] == "+442079460050"
    assert token == "t0k"
    inbound = {"calls": 4, "accepted": 1, "refused": 3, "rejected_concurrency": 0}
    assert summary["inbound"] == inbound


def _client_data_app(seen: list[dict[str, Any]]) -> FastAPI:
    """A personalization webhook answering every caller with valid client data."""
    app = FastAPI()

    @app.post("/personalize")
    async def personalize(request: Request) -> dict[str, Any]:
        seen.append(await request.json())
        return {"type": "conversation_initiation_client_data", "dynamic_variables": {"n": "Jo"}}

    return app


async def test_inbound_calls_share_the_concurrency_limit_with_outbound_calls(
    sandbox: Start,
) -> None:
    # The provider counts inbound and outbound calls against one workspace limit (reference §5).
    seen: list[dict[str, Any]] = []
    async with running_app(_client_data_app(seen)) as receiver:
        url = receiver.base_url + "/personalize"
        async with sandbox(**SLOW, concurrency=2, personalization_url=url) as (_, client):
            assert (await client.post(TWILIO, json=body("+442079460001"))).status_code == 200
            call = {"agent_id": "agent_1", "caller_id": "+442079460050", "talk_secs": 600}
            first = await client.post("/sandbox/inbound", json=call)
            # Full: an inbound call is refused like an outbound one, before the webhook rings…
            second = await client.post("/sandbox/inbound", json=call)
            # …and the live inbound call holds a slot an outbound call cannot take.
            outbound = await client.post(TWILIO, json=body("+442079460002"))
            summary = (await client.get("/sandbox/summary")).json()

    assert first.status_code == 200 and first.json()["accepted"] is True
    assert second.status_code == 429
    assert second.json()["detail"]["status"] == "too_many_concurrent_requests"
    assert outbound.status_code == 429
    assert len(seen) == 1
    assert (summary["live"], summary["live_inbound"], summary["peak_live"]) == (2, 1, 2)
    assert summary["rejected_concurrency"] == 1
    assert summary["inbound"]["rejected_concurrency"] == 1
    assert summary["dials"] == 1  # inbound calls are not in the (outbound) dial log


async def test_an_inbound_call_frees_its_slot_when_it_ends_or_is_not_answered(
    sandbox: Start,
) -> None:
    seen: list[dict[str, Any]] = []
    async with running_app(_client_data_app(seen)) as receiver:
        good = receiver.base_url + "/personalize"
        async with sandbox(**SLOW, concurrency=1) as (_, client):
            short = {"agent_id": "agent_1", "caller_id": "+442079460050", "talk_secs": 0.05}
            assert (await client.post("/sandbox/inbound", json={**short, "url": good})).json()[
                "accepted"
            ]
            for _ in range(200):
                summary = (await client.get("/sandbox/summary")).json()
                if summary["live"] == 0:
                    break
                await asyncio.sleep(0.01)
            assert (summary["live"], summary["live_inbound"], summary["settled"]) == (0, 0, True)
            # A webhook that fails the call (here: nothing listens) frees the slot at once.
            bad = {**short, "talk_secs": 600, "url": "http://127.0.0.1:9/nothing"}
            assert not (await client.post("/sandbox/inbound", json=bad)).json()["accepted"]
            after = (await client.get("/sandbox/summary")).json()
            assert (await client.post(TWILIO, json=body())).status_code == 200
    assert (after["live"], after["peak_live"]) == (0, 1)


@pytest.mark.parametrize("talk_secs", ["true", "-1", "1e300", '"5"', "NaN", "Infinity"])
async def test_inbound_talk_time_must_be_a_plain_number_in_range(
    sandbox: Start, talk_secs: str
) -> None:
    raw = '{"agent_id": "agent_1", "caller_id": "+442079460050", "talk_secs": ' + talk_secs + "}"
    async with sandbox(**SLOW, personalization_url="http://127.0.0.1:9/x") as (_, client):
        answer = await client.post(
            "/sandbox/inbound", content=raw, headers={"content-type": "application/json"}
        )
        summary = (await client.get("/sandbox/summary")).json()
    assert answer.status_code == 422
    assert "talk_secs" in answer.text
    assert (summary["inbound"]["calls"], summary["live"]) == (0, 0)


async def test_a_number_json_cannot_carry_back_is_a_422_not_a_500(sandbox: Start) -> None:
    raw = (
        '{"agent_id": "a", "agent_phone_number_id": "p", "to_number": "+442079460001",'
        ' "telephony_call_config": {"ringing_timeout_secs": Infinity}}'
    )
    async with sandbox(**SLOW) as (_, client):
        answer = await client.post(
            TWILIO, content=raw, headers={"content-type": "application/json"}
        )
        assert await dials(client) == []
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == [
        "body",
        "telephony_call_config",
        "ringing_timeout_secs",
    ]
