"""Sandbox pieces without a network: config, call book, cursors, cost, script, audio, delivery."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from orchestrator.dev.sandbox.audio import fake_mp3
from orchestrator.dev.sandbox.calls import (
    CallBook,
    DialRequest,
    InvalidCursor,
    ListFilter,
    cost_credits,
    decode_cursor,
    encode_cursor,
)
from orchestrator.dev.sandbox.config import OUTCOMES, Outcome, SandboxConfig
from orchestrator.dev.sandbox.delivery import Deliverer
from orchestrator.dev.sandbox.schemas import OutboundCallBody
from orchestrator.dev.sandbox.script import answered_script, initiation_failure
from orchestrator.domain import signing
from orchestrator.domain.attempt import AttemptState
from orchestrator.domain.outcome import facts_from_conversation
from orchestrator.settings import SANDBOX_API_KEY, SANDBOX_WEBHOOK_SECRET


def _request(
    number: str = "+442079460001", user_id: str | None = None, agent: str = "agent_1"
) -> DialRequest:
    data = {"user_id": user_id} if user_id else None
    return DialRequest(
        kind="twilio",
        agent_id=agent,
        agent_phone_number_id="phnum_1",
        to_number=number,
        client_data=data,
    )


# --- config -------------------------------------------------------------------------------


def test_config_defaults_use_the_well_known_sandbox_credentials() -> None:
    config = SandboxConfig()
    assert config.api_key == SANDBOX_API_KEY
    assert config.webhook_secret == SANDBOX_WEBHOOK_SECRET
    assert (config.host, config.port, config.concurrency) == ("127.0.0.1", 8765, 10)


def test_config_reads_sandbox_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_CONCURRENCY", "7")
    monkeypatch.setenv("SANDBOX_BURSTING", "true")
    monkeypatch.setenv("SANDBOX_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("SANDBOX_BUSY", "0.5")
    config = SandboxConfig()
    assert config.concurrency == 7
    assert config.bursting is True
    assert config.webhook_url == "http://127.0.0.1:9/hook"
    assert config.weights["busy"] == 0.5


@pytest.mark.parametrize("field", ["webhook_drop_rate", "http_5xx_rate", "transfer_rate"])
def test_config_refuses_rates_outside_zero_one(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        SandboxConfig.model_validate({field: 1.5})


def test_config_refuses_weights_that_cannot_pick_an_outcome() -> None:
    with pytest.raises(ValidationError, match="positive"):
        SandboxConfig.model_validate({name: 0 for name in OUTCOMES})
    with pytest.raises(ValidationError):
        SandboxConfig(success=-1)


@pytest.mark.parametrize(
    ("concurrency", "bursting", "limit"),
    [(4, False, 4), (4, True, 12), (150, True, 300), (400, True, 400)],
)
def test_live_limit_follows_burst_rules(concurrency: int, bursting: bool, limit: int) -> None:
    assert SandboxConfig(concurrency=concurrency, bursting=bursting).live_limit == limit


# --- call book ----------------------------------------------------------------------------


def test_book_refuses_beyond_the_limit_and_frees_slots_when_calls_end() -> None:
    book = CallBook(SandboxConfig(concurrency=2))
    first = book.admit(_request("+442079460001"), "success", 1.0)
    second = book.admit(_request("+442079460002"), "busy", 1.0)
    assert first is not None and second is not None
    assert book.admit(_request("+442079460003"), "success", 1.0) is None
    assert book.rejected_concurrency == 1
    book.end(first, "success", 2.0)
    book.end(first, "success", 3.0)  # idempotent: a slot is freed once
    assert book.live == 1
    third = book.admit(_request("+442079460003"), "success", 4.0)
    assert third is not None and third.dial_id == 3
    assert book.summary()["peak_live"] == 2
    assert book.summary()["outcomes"]["success"] == 1


def test_book_holds_each_agent_to_its_concurrency_limit() -> None:
    book = CallBook(SandboxConfig(concurrency=10, agent_concurrency_limit=2))
    first = book.admit(_request("+442079460001"), "success", 1.0)
    assert first is not None
    assert book.admit(_request("+442079460002"), "success", 1.0) is not None
    assert book.refusal(_request("+442079460003"), 1.0) == "agent_concurrency"
    # Another agent has its own limit; the workspace's is not reached.
    assert book.admit(_request("+442079460004", agent="agent_2"), "success", 1.0) is not None
    book.end(first, "success", 2.0)
    assert book.admit(_request("+442079460003"), "success", 3.0) is not None
    summary = book.summary()
    assert summary["rejected_agent_concurrency"] == 1
    assert summary["rejected_concurrency"] == 0
    assert summary["peak_live_by_agent"] == {"agent_1": 2, "agent_2": 1}


def test_book_holds_each_agent_to_its_daily_limit_per_utc_day() -> None:
    book = CallBook(SandboxConfig(concurrency=10, daily_limit=2))
    day = 1_764_000_000.0  # 2025-11-24 16:00 UTC
    for n in range(2):
        call = book.admit(_request(f"+44207946000{n}"), "success", day)
        assert call is not None
        book.end(call, "success", day + 1)  # ended calls still count for the day
    assert book.refusal(_request("+442079460009"), day + 2) == "daily_limit"
    assert book.admit(_request("+442079460009", agent="agent_2"), "success", day) is not None
    # The next UTC day starts afresh.
    assert book.admit(_request("+442079460009"), "success", day + 8 * 3600 + 1) is not None
    assert book.summary()["rejected_daily_limit"] == 1


def test_book_marks_calls_above_the_plan_limit_as_burst() -> None:
    book = CallBook(SandboxConfig(concurrency=1, bursting=True))
    calls = [book.admit(_request(f"+44207946000{i}"), "success", 1.0) for i in range(4)]
    assert [c.is_burst for c in calls if c is not None] == [False, True, True]
    assert calls[3] is None
    assert book.burst_dials == 2


def test_book_counts_overlapping_dials_to_one_number() -> None:
    book = CallBook(SandboxConfig(concurrency=10))
    first = book.admit(_request("+442079460001"), "success", 1.0)
    assert first is not None
    assert book.admit(_request("+442079460001"), "success", 1.0) is not None
    book.end(first, "success", 2.0)
    assert book.admit(_request("+442079460002"), "success", 2.0) is not None
    assert book.max_live_per_number == 2
    assert book.overlapping_number_dials == 1


def test_cursor_round_trip_and_rejection() -> None:
    assert decode_cursor(encode_cursor(42)) == 42
    for bad in ("nope", encode_cursor(42)[:-2] + "!!", "ZGlhbDow"):  # last: "dial:0"
        with pytest.raises(InvalidCursor):
            decode_cursor(bad)


def test_book_pages_newest_first_with_filters() -> None:
    book = CallBook(SandboxConfig(concurrency=20))
    for i in range(7):
        book.admit(_request(f"+4420794600{i:02d}", "alice" if i % 2 == 0 else "bob"), "busy", 1.0)
    alice = ListFilter(user_id="alice")
    page, cursor = book.page(alice, 3, None)
    assert [c.dial_id for c in page] == [7, 5, 3]
    assert cursor is not None
    page, cursor = book.page(alice, 3, cursor)
    assert [c.dial_id for c in page] == [1]
    assert cursor is None


def test_cost_is_whole_credits_and_doubles_for_burst() -> None:
    assert cost_credits(90, 400, False) == 600
    assert cost_credits(90, 400, True) == 1200
    assert cost_credits(1, 400, False) == 7  # 6.67 credits round up
    assert cost_credits(0, 400, False) == 0


# --- request bodies -----------------------------------------------------------------------


def test_body_echo_drops_secret_variables_but_keeps_the_rest() -> None:
    body = OutboundCallBody.model_validate(
        {
            "agent_id": "a",
            "agent_phone_number_id": "p",
            "to_number": "+442079460001",
            "conversation_initiation_client_data": {
                "type": "conversation_initiation_client_data",
                "dynamic_variables": {"name": "Jane", "secret__token": "s3cret", "n": 3},
                "user_id": "crm-1",
                "branch_id": "agtbrch_1",
            },
            "telephony_call_config": {"ringing_timeout_secs": 25},
        }
    )
    request = body.to_request("sip_trunk")
    assert request.client_data == {
        "type": "conversation_initiation_client_data",
        "dynamic_variables": {"name": "Jane", "n": 3},
        "user_id": "crm-1",
        "branch_id": "agtbrch_1",
    }
    assert request.user_id == "crm-1"
    assert request.ringing_timeout_secs == 25.0


@pytest.mark.parametrize(
    "variables",
    [{"address": {"city": "Paris"}}, {"tags": ["a"]}, {"system__call_sid": "x"}, {"v": None}],
)
def test_body_refuses_bad_dynamic_variables(variables: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="dynamic variable"):
        OutboundCallBody.model_validate(
            {
                "agent_id": "a",
                "agent_phone_number_id": "p",
                "to_number": "+442079460001",
                "conversation_initiation_client_data": {"dynamic_variables": variables},
            }
        )


# --- script -------------------------------------------------------------------------------


def _tools(transcript: list[dict[str, Any]]) -> list[str]:
    return [tool["tool_name"] for turn in transcript for tool in turn["tool_calls"]]


def test_scripts_carry_the_flags_the_orchestrator_reads() -> None:
    book = CallBook(SandboxConfig())
    call = book.admit(_request(), "success", 1.0)
    assert call is not None
    rng = random.Random(1)
    transfer = answered_script(call, "success", 60, rng, transfer_rate=1.0, opt_out_rate=0.0)
    assert "transfer_to_number" in _tools(transfer.transcript)
    assert transfer.analysis["data_collection_results"]["interested"]["value"] is True
    opt_out = answered_script(call, "failure", 60, rng, transfer_rate=0.0, opt_out_rate=1.0)
    assert opt_out.analysis["data_collection_results"]["opt_out"]["value"] is True
    assert opt_out.analysis["call_successful"] == "failure"
    voicemail = answered_script(call, "voicemail", 20, rng, transfer_rate=0.0, opt_out_rate=0.0)
    assert _tools(voicemail.transcript) == ["voicemail_detection"]
    assert "voicemail" in voicemail.termination_reason.lower()
    for turn in transfer.transcript:
        assert 0 <= turn["time_in_call_secs"] <= 60
        for tool in turn["tool_calls"]:
            assert isinstance(json.loads(tool["params_as_json"]), dict)


def test_first_message_override_is_filled_from_dynamic_variables() -> None:
    request = DialRequest(
        kind="twilio",
        agent_id="a",
        agent_phone_number_id="p",
        to_number="+442079460001",
        client_data={
            "dynamic_variables": {"customer_name": "Jane"},
            "conversation_config_override": {"agent": {"first_message": "Hello {{customer_name}}"}},
        },
    )
    call = CallBook(SandboxConfig()).admit(request, "success", 1.0)
    assert call is not None
    script = answered_script(call, "success", 30, random.Random(0), transfer_rate=0, opt_out_rate=0)
    assert script.transcript[0]["message"] == "Hello Jane"


def test_voicemail_and_success_records_map_to_the_right_attempt_states() -> None:
    """The records the sandbox builds are read by the orchestrator as intended."""
    book = CallBook(SandboxConfig())
    rng = random.Random(3)
    cases: list[tuple[Outcome, AttemptState]] = [
        ("voicemail", AttemptState.VOICEMAIL),
        ("success", AttemptState.COMPLETED),
    ]
    for outcome, state in cases:
        call = book.admit(_request(), outcome, 1.0)
        assert call is not None
        script = answered_script(call, outcome, 30, rng, transfer_rate=0, opt_out_rate=0)
        call.transcript, call.analysis = script.transcript, script.analysis
        call.termination_reason, call.status = script.termination_reason, "done"
        assert facts_from_conversation(call.conversation()).state == state


def test_initiation_failure_bodies_for_twilio_and_sip() -> None:
    book = CallBook(SandboxConfig(concurrency=5))
    twilio = book.admit(_request(), "busy", 1.0)
    sip_request = DialRequest(
        kind="sip_trunk", agent_id="a", agent_phone_number_id="p", to_number="+442079460002"
    )
    sip = book.admit(sip_request, "no_answer", 1.0)
    assert twilio is not None and sip is not None
    data = initiation_failure(twilio, "busy")
    assert data["failure_reason"] == "busy"
    assert data["metadata"]["type"] == "twilio"
    assert data["metadata"]["body"]["CallStatus"] == "busy"
    assert data["metadata"]["body"]["CallSid"] == twilio.call_sid
    data = initiation_failure(sip, "no_answer")
    assert data["failure_reason"] == "no-answer"
    assert data["metadata"] == {
        "type": "sip",
        "body": {
            "sip_status_code": 480,
            "error_reason": "Temporarily Unavailable",
            "call_id": sip.call_sid,
        },
    }


# --- audio --------------------------------------------------------------------------------


def test_fake_mp3_is_deterministic_and_looks_like_mp3() -> None:
    audio = fake_mp3("conv_1", 32 * 1024)
    assert audio == fake_mp3("conv_1", 32 * 1024)
    assert audio != fake_mp3("conv_2", 32 * 1024)
    assert audio.startswith(b"ID3")
    tag_size = int.from_bytes(audio[6:10], "big")  # every byte < 0x80, so syncsafe == plain here
    assert audio[10 + tag_size : 10 + tag_size + 2] == b"\xff\xfb"
    assert 30 * 1024 < len(audio) <= 32 * 1024


# --- delivery (network injected through httpx.MockTransport) ------------------------------


async def test_delivery_signs_each_event_and_delays_reorder_them() -> None:
    received: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        signing.verify(
            request.headers[signing.HEADER],
            request.content,
            [SANDBOX_WEBHOOK_SECRET],
            now=time.time(),
        )
        received.append(json.loads(request.content))
        return httpx.Response(200)

    config = SandboxConfig(webhook_url="http://receiver/hook", webhook_delay_secs=0.2)
    deliverer = Deliverer(config, random.Random(7))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        deliverer.client = client
        for index in range(20):
            deliverer.send("post_call_transcription", {"conversation_id": f"conv_{index}"})
        await deliverer.drain()
    order = [int(event["data"]["conversation_id"].split("_")[1]) for event in received]
    assert sorted(order) == list(range(20))
    assert order != list(range(20))  # random delays reordered the events
    assert deliverer.stats.delivered == deliverer.stats.sent == 20


async def test_delivery_counts_unreachable_receiver_as_failed_without_raising() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    config = SandboxConfig(webhook_url="http://receiver/hook")
    deliverer = Deliverer(config, random.Random(1))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        deliverer.client = client
        deliverer.send("call_initiation_failure", {"conversation_id": "conv_1"})
        await deliverer.drain()
    assert (deliverer.stats.sent, deliverer.stats.failed, deliverer.stats.delivered) == (1, 1, 0)


def test_delivery_without_a_url_counts_events_as_not_sent() -> None:
    deliverer = Deliverer(SandboxConfig(webhook_url=None), random.Random(1))
    deliverer.send("post_call_transcription", {"conversation_id": "conv_1"})
    assert deliverer.stats.not_sent == 1
    assert deliverer.pending == 0
