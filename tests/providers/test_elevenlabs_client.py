"""The provider client over an injected `httpx.MockTransport`: error mapping, reads retried."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from orchestrator.errors import (
    ProviderAmbiguous,
    ProviderBusy,
    ProviderError,
    ProviderRefused,
    RequestUnsendable,
)
from orchestrator.providers.elevenlabs import DialResult, ElevenLabsClient

Handler = Callable[[httpx.Request], httpx.Response]
BASE = "https://api.example.test"


class Recorder:
    """A transport handler that answers from a script and records every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[[Recorder], ElevenLabsClient]]:
    clients: list[ElevenLabsClient] = []

    def make(recorder: Recorder) -> ElevenLabsClient:
        client = ElevenLabsClient(
            base_url=BASE, api_key="xi-test", transport=httpx.MockTransport(recorder)
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def dial(client: ElevenLabsClient, kind: Any = "twilio", **kw: Any) -> DialResult:
    return await client.outbound_call(
        kind,
        agent_id="agent_1",
        phone_number_id="phnum_1",
        to_number="+14155550123",
        initiation_data=kw.get("data"),
    )


# --- outbound call --------------------------------------------------------------------------


async def test_twilio_dial_maps_call_sid_and_sends_the_body(make_client: Any) -> None:
    rec = Recorder(
        httpx.Response(
            200,
            json={"success": True, "message": "ok", "conversation_id": "conv_1", "callSid": "CA1"},
        )
    )
    data = {"type": "conversation_initiation_client_data", "dynamic_variables": {"a": 1}}
    result = await dial(make_client(rec), data=data)
    assert result == DialResult(conversation_id="conv_1", call_sid="CA1")
    [request] = rec.requests
    assert request.method == "POST"
    assert request.url == f"{BASE}/v1/convai/twilio/outbound-call"
    assert request.headers["xi-api-key"] == "xi-test"
    assert json.loads(request.content) == {
        "agent_id": "agent_1",
        "agent_phone_number_id": "phnum_1",
        "to_number": "+14155550123",
        "conversation_initiation_client_data": data,
    }


async def test_sip_dial_maps_sip_call_id(make_client: Any) -> None:
    rec = Recorder(
        httpx.Response(200, json={"success": True, "conversation_id": "c2", "sip_call_id": "s1"})
    )
    result = await dial(make_client(rec), "sip_trunk")
    assert result == DialResult(conversation_id="c2", call_sid="s1")
    assert rec.requests[0].url.path == "/v1/convai/sip-trunk/outbound-call"
    assert "conversation_initiation_client_data" not in json.loads(rec.requests[0].content)


async def test_null_ids_are_allowed(make_client: Any) -> None:
    rec = Recorder(httpx.Response(200, json={"success": True, "conversation_id": None}))
    assert await dial(make_client(rec)) == DialResult(conversation_id=None, call_sid=None)


@pytest.mark.parametrize("status", ["too_many_concurrent_requests", "system_busy"])
async def test_429_is_busy_with_retry_after(make_client: Any, status: str) -> None:
    rec = Recorder(
        httpx.Response(429, json={"detail": {"status": status}}, headers={"Retry-After": "7"})
    )
    with pytest.raises(ProviderBusy) as info:
        await dial(make_client(rec))
    assert str(info.value) == status
    assert info.value.retry_after == 7.0
    assert info.value.status_code == 429
    assert len(rec.requests) == 1


async def test_429_without_detail_or_retry_after(make_client: Any) -> None:
    rec = Recorder(httpx.Response(429, text="slow down"))
    with pytest.raises(ProviderBusy) as info:
        await dial(make_client(rec))
    assert info.value.retry_after is None
    assert len(rec.requests) == 1


async def test_422_is_a_refusal_not_busy(make_client: Any) -> None:
    rec = Recorder(httpx.Response(422, json={"detail": [{"loc": ["body", "to_number"]}]}))
    with pytest.raises(ProviderRefused) as info:
        await dial(make_client(rec))
    assert not isinstance(info.value, ProviderBusy)
    assert info.value.status_code == 422
    assert "to_number" in str(info.value)
    assert len(rec.requests) == 1


@pytest.mark.parametrize("code", [500, 502, 503, 504])
async def test_5xx_is_ambiguous(make_client: Any, code: int) -> None:
    rec = Recorder(httpx.Response(code, text="oops"))
    with pytest.raises(ProviderAmbiguous) as info:
        await dial(make_client(rec))
    assert info.value.status_code == code
    assert len(rec.requests) == 1


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("connection reset"),
        httpx.WriteError("broken pipe"),
    ],
)
async def test_failures_after_sending_are_ambiguous(make_client: Any, error: Exception) -> None:
    rec = Recorder(error)
    with pytest.raises(ProviderAmbiguous):
        await dial(make_client(rec))
    assert len(rec.requests) == 1


@pytest.mark.parametrize(
    "error", [httpx.ConnectError("refused"), httpx.ConnectTimeout("connect timed out")]
)
async def test_failures_before_sending_are_busy(make_client: Any, error: Exception) -> None:
    rec = Recorder(error)
    with pytest.raises(ProviderBusy) as info:
        await dial(make_client(rec))
    assert info.value.status_code is None
    assert len(rec.requests) == 1


@pytest.mark.parametrize("body", ["[1, 2]", "<html>gateway</html>", ""])
async def test_2xx_without_a_json_object_is_ambiguous(make_client: Any, body: str) -> None:
    rec = Recorder(httpx.Response(200, text=body))
    with pytest.raises(ProviderAmbiguous):
        await dial(make_client(rec))
    assert len(rec.requests) == 1


# --- conversations --------------------------------------------------------------------------


async def test_get_conversation_retries_503_then_succeeds(make_client: Any) -> None:
    rec = Recorder(
        httpx.Response(503, headers={"Retry-After": "0"}),
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(200, json={"conversation_id": "conv_1", "status": "done"}),
    )
    data = await make_client(rec).get_conversation("conv_1")
    assert data == {"conversation_id": "conv_1", "status": "done"}
    assert len(rec.requests) == 3
    assert all(r.url.path == "/v1/convai/conversations/conv_1" for r in rec.requests)


async def test_get_conversation_honours_retry_after(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("asyncio.sleep", fake_sleep)
    rec = Recorder(
        httpx.Response(503, headers={"Retry-After": "3"}),
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(503, headers={"Retry-After": "600"}),
        httpx.Response(200, json={"conversation_id": "conv_1"}),
    )
    assert await make_client(rec).get_conversation("conv_1") == {"conversation_id": "conv_1"}
    assert waits == [3.0, 0.0, 60.0]  # a huge Retry-After is capped


async def test_get_conversation_backs_off_without_retry_after(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("asyncio.sleep", fake_sleep)
    rec = Recorder(httpx.Response(502), httpx.Response(200, json={"conversation_id": "c"}))
    assert await make_client(rec).get_conversation("c") == {"conversation_id": "c"}
    assert len(waits) == 1 and waits[0] > 0


async def test_get_conversation_retries_a_dropped_connection(make_client: Any) -> None:
    rec = Recorder(
        httpx.ConnectError("refused"),
        httpx.Response(200, json={"conversation_id": "conv_1"}),
    )
    assert await make_client(rec).get_conversation("conv_1") == {"conversation_id": "conv_1"}
    assert len(rec.requests) == 2


async def test_get_conversation_gives_up_after_its_attempts(make_client: Any) -> None:
    rec = Recorder(httpx.Response(503, headers={"Retry-After": "0"}))
    with pytest.raises(ProviderError):
        await make_client(rec).get_conversation("conv_1")
    assert len(rec.requests) == 4


async def test_get_conversation_404_is_none(make_client: Any) -> None:
    rec = Recorder(httpx.Response(404, json={"detail": "not found"}))
    assert await make_client(rec).get_conversation("conv_x") is None
    assert len(rec.requests) == 1


async def test_get_conversation_other_4xx_is_an_error_without_retry(make_client: Any) -> None:
    rec = Recorder(httpx.Response(401, json={"detail": "bad key"}))
    with pytest.raises(ProviderError):
        await make_client(rec).get_conversation("conv_1")
    assert len(rec.requests) == 1


async def test_list_conversations_follows_the_cursor_with_filters(make_client: Any) -> None:
    rec = Recorder(
        httpx.Response(
            200,
            json={
                "conversations": [{"conversation_id": "a"}],
                "has_more": True,
                "next_cursor": "p2",
            },
        ),
        httpx.Response(
            200,
            json={
                "conversations": [{"conversation_id": "b"}],
                "has_more": True,
                "next_cursor": "p3",
            },
        ),
        httpx.Response(
            200,
            json={
                "conversations": [{"conversation_id": "c"}],
                "has_more": False,
                "next_cursor": None,
            },
        ),
    )
    found = await make_client(rec).list_conversations(
        agent_id="agent_1", user_id="crm-1", call_start_after_unix=1_700_000_000, page_size=50
    )
    assert [c["conversation_id"] for c in found] == ["a", "b", "c"]
    params = [dict(r.url.params) for r in rec.requests]
    base = {
        "agent_id": "agent_1",
        "user_id": "crm-1",
        "call_start_after_unix": "1700000000",
        "page_size": "50",
    }
    assert params == [base, {**base, "cursor": "p2"}, {**base, "cursor": "p3"}]
    assert all(r.url.path == "/v1/convai/conversations" for r in rec.requests)


async def test_list_conversations_omits_unset_filters(make_client: Any) -> None:
    rec = Recorder(httpx.Response(200, json={"conversations": [], "has_more": False}))
    assert await make_client(rec).list_conversations() == []
    assert dict(rec.requests[0].url.params) == {"page_size": "100"}


async def test_list_conversations_stops_at_max_pages(make_client: Any) -> None:
    page = {"conversations": [{"conversation_id": "x"}], "has_more": True, "next_cursor": "again"}
    rec = Recorder(httpx.Response(200, json=page))
    found = await make_client(rec).list_conversations(max_pages=3)
    assert len(found) == 3 and len(rec.requests) == 3


async def test_list_conversations_error_is_a_provider_error(make_client: Any) -> None:
    rec = Recorder(httpx.Response(403, json={"detail": "forbidden"}))
    with pytest.raises(ProviderError):
        await make_client(rec).list_conversations()


# --- audio ----------------------------------------------------------------------------------


async def test_audio_streams_bytes_or_none(make_client: Any) -> None:
    rec = Recorder(
        httpx.Response(200, content=b"ID3fake", headers={"content-type": "audio/mpeg"}),
        httpx.Response(404),
    )
    client = make_client(rec)
    async with client.audio("conv_1") as response:
        assert response is not None
        assert await response.aread() == b"ID3fake"
    async with client.audio("conv_2") as response:
        assert response is None
    assert rec.requests[0].url.path == "/v1/convai/conversations/conv_1/audio"


@pytest.mark.parametrize(
    "data",
    [
        {"dynamic_variables": {"note": "\ud83d"}},  # a lone surrogate: no UTF-8 for it
        {"dynamic_variables": {"ratio": float("nan")}},  # not JSON
    ],
)
async def test_a_body_that_cannot_be_encoded_is_never_sent(
    make_client: Callable[[Recorder], ElevenLabsClient], data: dict[str, Any]
) -> None:
    # Refused before anything leaves: a definite failure (nothing placed), never ambiguous.
    recorder = Recorder(httpx.Response(200, json={"conversation_id": "conv_1"}))
    client = make_client(recorder)
    with pytest.raises(RequestUnsendable, match="could not be encoded"):
        await dial(client, data=data)
    with pytest.raises(RequestUnsendable):
        await client.register_call(
            agent_id="agent_1", from_number="+1", to_number="+2", initiation_data=data
        )
    assert recorder.requests == []
    assert issubclass(RequestUnsendable, ProviderRefused)
