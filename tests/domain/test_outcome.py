"""Provider conversation records and initiation failures, reduced to `CallFacts`."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.domain.attempt import AttemptState
from orchestrator.domain.outcome import (
    facts_from_conversation,
    facts_from_initiation_failure,
    facts_from_twilio_status,
    is_voicemail,
)


def conversation(**overrides: Any) -> dict[str, Any]:
    """A `post_call_transcription.data` shaped like the provider's (reference §2)."""
    data: dict[str, Any] = {
        "agent_id": "agent_test",
        "conversation_id": "conv_01",
        "user_id": "crm-1",
        "status": "done",
        "has_audio": True,
        "transcript": [
            {"role": "agent", "message": "Hi Ada, this is Acme.", "tool_calls": []},
            {"role": "user", "message": "Hello?", "tool_calls": None},
        ],
        "metadata": {
            "start_time_unix_secs": 1_700_000_000,
            "call_duration_secs": 74,
            "cost": 512,
            "cost_fiat": 0.37,
            "termination_reason": "Client disconnected: 1000",
            "charging": {"is_burst": False, "dev_discount": False, "tier": "pro"},
            "phone_call": {"type": "twilio", "direction": "outbound", "call_sid": "CA1"},
        },
        "analysis": {
            "call_successful": "success",
            "transcript_summary": "Ada agreed to pay on Friday.",
            "evaluation_criteria_results": {
                "polite": {"criteria_id": "polite", "result": "success", "rationale": "..."}
            },
            "data_collection_results": {
                "promise_date": {"data_collection_id": "promise_date", "value": "2025-08-15"},
                "amount": {"data_collection_id": "amount", "value": 42.5},
            },
        },
    }
    data.update(overrides)
    return data


def tool_turn(name: str) -> dict[str, Any]:
    return {
        "role": "agent",
        "message": None,
        "tool_calls": [{"tool_name": name, "params_as_json": "{}", "request_id": "r1"}],
    }


def test_done_and_successful_is_completed_with_every_fact() -> None:
    facts = facts_from_conversation(conversation())
    assert facts.state is AttemptState.COMPLETED
    assert facts.call_successful == "success"
    assert facts.summary == "Ada agreed to pay on Friday."
    assert facts.termination_reason == "Client disconnected: 1000"
    assert facts.duration_secs == 74.0
    assert facts.cost_credits == 512.0
    assert facts.cost_fiat == 0.37
    assert facts.is_burst is False
    assert facts.start_time_unix == 1_700_000_000.0
    assert facts.data_collection == {"promise_date": "2025-08-15", "amount": 42.5}
    assert facts.evaluation == {"polite": "success"}
    assert facts.transferred is False
    assert facts.has_audio is True
    assert facts.failure_reason is None


def test_voicemail_detection_tool_call_makes_it_voicemail() -> None:
    data = conversation(transcript=[tool_turn("voicemail_detection")])
    assert facts_from_conversation(data).state is AttemptState.VOICEMAIL


@pytest.mark.parametrize(
    "reason",
    ["Voicemail detected by agent", "Answering Machine reached", "call ended: machine detected"],
)
def test_termination_reason_mentioning_voicemail_makes_it_voicemail(reason: str) -> None:
    data = conversation()
    data["metadata"]["termination_reason"] = reason
    assert facts_from_conversation(data).state is AttemptState.VOICEMAIL


def test_voicemail_only_counts_once_the_call_is_done() -> None:
    data = conversation(status="in-progress", transcript=[tool_turn("voicemail_detection")])
    assert facts_from_conversation(data).state is AttemptState.IN_PROGRESS


@pytest.mark.parametrize("tool", ["transfer_to_number", "transfer_to_human"])
def test_transfer_tool_marks_the_call_transferred(tool: str) -> None:
    facts = facts_from_conversation(conversation(transcript=[tool_turn(tool)]))
    assert facts.transferred is True
    assert facts.state is AttemptState.COMPLETED


def test_other_tools_do_not_mark_a_transfer() -> None:
    facts = facts_from_conversation(conversation(transcript=[tool_turn("end_call")]))
    assert facts.transferred is False


def test_burst_charging_is_reported() -> None:
    data = conversation()
    data["metadata"]["charging"]["is_burst"] = True
    assert facts_from_conversation(data).is_burst is True


def test_failed_status_is_failed() -> None:
    data = conversation(status="failed", analysis=None)
    data["metadata"]["error"] = {"code": 1011, "reason": "agent error"}
    facts = facts_from_conversation(data)
    assert facts.state is AttemptState.FAILED
    assert facts.call_successful is None
    assert facts.data_collection == {}


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("initiated", AttemptState.INITIATED),
        ("in-progress", AttemptState.IN_PROGRESS),
        ("processing", AttemptState.IN_PROGRESS),
        ("", AttemptState.INITIATED),
    ],
)
def test_non_final_statuses_map_to_live_states(status: str, state: AttemptState) -> None:
    assert facts_from_conversation(conversation(status=status)).state is state


def test_minimal_record_without_metadata_or_analysis() -> None:
    facts = facts_from_conversation({"status": "done", "conversation_id": "conv_x"})
    assert facts.state is AttemptState.COMPLETED
    assert facts.cost_credits is None
    assert facts.is_burst is None
    assert facts.has_audio is False


def test_non_numeric_costs_are_ignored() -> None:
    data = conversation()
    data["metadata"].update(cost="lots", cost_fiat=True, call_duration_secs=None)
    facts = facts_from_conversation(data)
    assert (facts.cost_credits, facts.cost_fiat, facts.duration_secs) == (None, None, None)


def test_malformed_transcript_entries_are_skipped() -> None:
    transcript = ["noise", {"tool_calls": ["x", {"tool_name": 3}]}, tool_turn("transfer_to_number")]
    assert facts_from_conversation(conversation(transcript=transcript)).transferred is True


def test_is_voicemail_without_reason_or_tools() -> None:
    assert not is_voicemail(None, set())
    assert not is_voicemail("Client disconnected", {"end_call"})


@pytest.mark.parametrize(
    ("reason", "state"),
    [
        ("busy", AttemptState.BUSY),
        ("no-answer", AttemptState.NO_ANSWER),
        ("unknown", AttemptState.FAILED),
        ("something-new", AttemptState.FAILED),
    ],
)
def test_initiation_failure_reasons(reason: str, state: AttemptState) -> None:
    data = {
        "agent_id": "agent_test",
        "conversation_id": "conv_02",
        "failure_reason": reason,
        "metadata": {"type": "twilio", "body": {"CallSid": "CA2", "CallStatus": reason}},
    }
    facts = facts_from_initiation_failure(data)
    assert facts.state is state
    assert facts.failure_reason == reason
    assert facts.termination_reason == f"call_initiation_failure: {reason}"


def test_initiation_failure_without_a_reason_counts_as_unknown() -> None:
    facts = facts_from_initiation_failure({"conversation_id": "conv_03", "failure_reason": None})
    assert facts.state is AttemptState.FAILED
    assert facts.failure_reason == "unknown"


def test_failed_conversations_keep_busy_and_no_answer_apart() -> None:
    from orchestrator.domain.outcome import failed_state

    assert failed_state("call_initiation_failure: busy", None) is AttemptState.BUSY
    assert failed_state(None, {"code": 480, "reason": "No answer"}) is AttemptState.NO_ANSWER
    assert failed_state("call_initiation_failure: no-answer", None) is AttemptState.NO_ANSWER
    assert failed_state("carrier rejected", {"code": 500}) is AttemptState.FAILED
    polled = facts_from_conversation(
        {"status": "failed", "metadata": {"termination_reason": "call_initiation_failure: busy"}}
    )
    assert polled.state is AttemptState.BUSY


# --- records of unexpected shapes: each odd field is ignored, the rest still counts ------------


@pytest.mark.parametrize(
    "odd",
    [
        {"metadata": "x"},
        {"metadata": [1, 2]},
        {"analysis": "x"},
        {"analysis": {"data_collection_results": [1]}},
        {"analysis": {"evaluation_criteria_results": "passed"}},
        {"metadata": {"charging": "x", "termination_reason": 5}},
        {"transcript": [{"tool_calls": 3}, {"tool_calls": {"tool_name": "end_call"}}]},
    ],
)
def test_a_field_of_an_odd_shape_is_ignored_on_its_own(odd: dict[str, Any]) -> None:
    facts = facts_from_conversation({"status": "done", **odd})
    assert facts.state is AttemptState.COMPLETED
    assert facts.data_collection == {} and facts.evaluation == {}
    assert facts.termination_reason is None and facts.is_burst is None


def test_the_well_formed_fields_beside_an_odd_one_still_count() -> None:
    record = conversation()
    record["analysis"]["data_collection_results"] = ["not", "an", "object"]
    record["transcript"].append({"role": "agent", "tool_calls": 7})
    facts = facts_from_conversation(record)
    assert facts.state is AttemptState.COMPLETED and facts.duration_secs == 74.0
    assert facts.summary == "Ada agreed to pay on Friday." and facts.data_collection == {}


def test_text_fields_that_are_not_text_are_ignored() -> None:
    facts = facts_from_conversation(
        {
            "status": "failed",
            "metadata": {"termination_reason": {"busy": True}, "charging": {"is_burst": "yes"}},
            "analysis": {"call_successful": True, "transcript_summary": ["a"]},
        }
    )
    assert facts.state is AttemptState.FAILED
    assert (facts.termination_reason, facts.call_successful, facts.summary) == (None, None, None)
    assert facts.is_burst is None


# --- Twilio status callbacks ---------------------------------------------------------------


@pytest.mark.parametrize("duration", ["²", "٣", "１２", "1.5", "-1", " 3", ""])
def test_a_twilio_duration_that_is_not_ascii_digits_is_ignored(duration: str) -> None:
    facts = facts_from_twilio_status({"CallStatus": "completed", "CallDuration": duration})
    assert facts.state is AttemptState.COMPLETED and facts.duration_secs is None


def test_a_twilio_duration_in_ascii_digits_is_kept() -> None:
    facts = facts_from_twilio_status({"CallStatus": "completed", "CallDuration": "042"})
    assert facts.duration_secs == 42.0


def test_provider_text_that_cannot_be_stored_is_kept_escaped() -> None:
    # A polled record's JSON may hold "\ud83d" or "\u0000"; PostgreSQL refuses NUL in text and no
    # UTF-8 encoder takes a lone surrogate: stored raw, the merge of the call would always fail.
    facts = facts_from_conversation(
        {
            "status": "done",
            "metadata": {"termination_reason": "hangup\x00"},
            "analysis": {
                "transcript_summary": "Talked \ud83d",
                "data_collection_results": {"note": {"value": "x\x00"}},
            },
        }
    )
    assert facts.summary == "Talked \\ud83d"
    assert facts.termination_reason == "hangup\\u0000"
    assert facts.data_collection == {"note": "x\\u0000"}
