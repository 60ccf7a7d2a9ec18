"""Provider news about a call, reduced to what the state machine and the contact need."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from orchestrator.domain.attempt import AttemptState
from orchestrator.domain.text import escaped, shown


class Disposition(StrEnum):
    """A contact's standing within its campaign."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    REACHED = "reached"
    VOICEMAIL = "voicemail"
    UNREACHABLE = "unreachable"
    DO_NOT_CALL = "do_not_call"
    INVALID_NUMBER = "invalid_number"
    CANCELED = "canceled"
    #: Its attempt is parked (failed the same way again and again before any call was placed):
    #: not final, nothing happens until it is re-queued.
    PARKED = "parked"


FINAL_DISPOSITIONS: frozenset[Disposition] = frozenset(
    {
        Disposition.REACHED,
        Disposition.UNREACHABLE,
        Disposition.DO_NOT_CALL,
        Disposition.INVALID_NUMBER,
        Disposition.CANCELED,
    }
)

#: Provider conversation status → our attempt state, for news that is not yet final.
_STATUS_STATE: dict[str, AttemptState] = {
    "initiated": AttemptState.INITIATED,
    "in-progress": AttemptState.IN_PROGRESS,
    "processing": AttemptState.IN_PROGRESS,
}

_FAILURE_STATE: dict[str, AttemptState] = {
    "busy": AttemptState.BUSY,
    "no-answer": AttemptState.NO_ANSWER,
    "unknown": AttemptState.FAILED,
}

_VOICEMAIL_MARKERS = ("voicemail", "answering machine", "machine detected")


@dataclass(frozen=True)
class CallFacts:
    """What one conversation record (webhook or GET) tells us."""

    state: AttemptState
    call_successful: str | None = None
    summary: str | None = None
    termination_reason: str | None = None
    duration_secs: float | None = None
    cost_credits: float | None = None
    cost_fiat: float | None = None
    is_burst: bool | None = None
    start_time_unix: float | None = None
    data_collection: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    transferred: bool = False
    has_audio: bool = False
    failure_reason: str | None = None
    answered_by: str | None = None


def _tool_names(transcript: Any) -> set[str]:
    names: set[str] = set()
    if not isinstance(transcript, list):
        return names
    for turn in transcript:
        if not isinstance(turn, dict):
            continue
        for call in _list(turn.get("tool_calls")):
            if isinstance(call, dict) and isinstance(call.get("tool_name"), str):
                names.add(call["tool_name"])
    return names


# The record is outside input (a signed webhook or a polled GET): a field of an unexpected shape
# is ignored on its own, so the rest of the record still counts and the job never fails on it.


def _object(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    """`value` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


# Text from the provider is stored and shown: what cannot be carried (a NUL, which PostgreSQL
# refuses; a lone surrogate, which a polled record's JSON escape can hold) is kept escaped, so one
# odd record never fails the merge of its call (`domain/text.py`).


def _text(value: Any) -> str | None:
    """`value` when it is text (escaped where it cannot be carried), else None."""
    return shown(value) if isinstance(value, str) else None


def _values(results: Any, key: str) -> dict[str, Any]:
    """`{id: item[key]}` of an analysis results object; items that are not objects are left out."""
    values: dict[str, Any] = escaped(
        {k: v.get(key) for k, v in _object(results).items() if isinstance(v, dict)}
    )
    return values


def is_voicemail(termination_reason: str | None, tool_names: set[str]) -> bool:
    """Voicemail when the agent's detection tool fired or the termination reason says so."""
    if "voicemail_detection" in tool_names:
        return True
    reason = (termination_reason or "").lower()
    return any(marker in reason for marker in _VOICEMAIL_MARKERS)


def failed_state(termination_reason: str | None, error: Any) -> AttemptState:
    """A failed conversation's state: busy and no-answer are told apart when the record says so.

    Polling sees only the conversation, not the lost `call_initiation_failure` event, so the
    reason is read from the termination reason or the error (free text at the provider).
    """
    text = (termination_reason or "").lower()
    if isinstance(error, dict):
        text += " " + str(error.get("reason") or "").lower() + " " + str(error.get("code") or "")
    if "busy" in text:
        return AttemptState.BUSY
    if "no-answer" in text or "no answer" in text or "no_answer" in text:
        return AttemptState.NO_ANSWER
    return AttemptState.FAILED


def facts_from_conversation(data: dict[str, Any]) -> CallFacts:
    """Reduce a conversation record (`post_call_transcription.data` or GET) to `CallFacts`."""
    status = str(data.get("status") or "")
    metadata = _object(data.get("metadata"))
    analysis = _object(data.get("analysis"))
    is_burst = _object(metadata.get("charging")).get("is_burst")
    tools = _tool_names(data.get("transcript"))
    reason = _text(metadata.get("termination_reason"))
    if status == "done":
        state = AttemptState.VOICEMAIL if is_voicemail(reason, tools) else AttemptState.COMPLETED
    elif status == "failed":
        state = failed_state(reason, metadata.get("error"))
    else:
        state = _STATUS_STATE.get(status, AttemptState.INITIATED)
    return CallFacts(
        state=state,
        call_successful=_text(analysis.get("call_successful")),
        summary=_text(analysis.get("transcript_summary")),
        termination_reason=reason,
        duration_secs=_num(metadata.get("call_duration_secs")),
        cost_credits=_num(metadata.get("cost")),
        cost_fiat=_num(metadata.get("cost_fiat")),
        is_burst=is_burst if isinstance(is_burst, bool) else None,
        start_time_unix=_num(metadata.get("start_time_unix_secs")),
        data_collection=_values(analysis.get("data_collection_results"), "value"),
        evaluation=_values(analysis.get("evaluation_criteria_results"), "result"),
        transferred=bool(tools & {"transfer_to_number", "transfer_to_human"}),
        has_audio=bool(data.get("has_audio")),
    )


def facts_from_initiation_failure(data: dict[str, Any]) -> CallFacts:
    """Reduce a `call_initiation_failure` event's data to `CallFacts`."""
    reason = shown(str(data.get("failure_reason") or "unknown"))
    return CallFacts(
        state=_FAILURE_STATE.get(reason, AttemptState.FAILED),
        failure_reason=reason,
        termination_reason=f"call_initiation_failure: {reason}",
    )


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


_TWILIO_STATE: dict[str, AttemptState] = {
    "queued": AttemptState.INITIATED,
    "initiated": AttemptState.INITIATED,
    "ringing": AttemptState.INITIATED,
    "in-progress": AttemptState.IN_PROGRESS,
    "busy": AttemptState.BUSY,
    "no-answer": AttemptState.NO_ANSWER,
    "failed": AttemptState.FAILED,
    "canceled": AttemptState.FAILED,
}


def facts_from_twilio_status(params: dict[str, str]) -> CallFacts:
    """Reduce a Twilio status callback; a completed call a machine answered is voicemail."""
    status = params.get("CallStatus", "")
    answered_by = params.get("AnsweredBy") or None
    machine = bool(answered_by and answered_by.startswith(("machine", "fax")))
    if status == "completed":
        state = AttemptState.VOICEMAIL if machine else AttemptState.COMPLETED
    else:
        state = _TWILIO_STATE.get(status, AttemptState.INITIATED)
    duration = params.get("CallDuration")
    return CallFacts(
        state=state,
        # ASCII digits only: str.isdigit() is also true for '²' or '٣', which float() refuses.
        duration_secs=float(duration)
        if duration and duration.isascii() and duration.isdigit()
        else None,
        termination_reason=f"twilio: {status}" + (f" ({answered_by})" if answered_by else ""),
        failure_reason=status if state in (AttemptState.BUSY, AttemptState.NO_ANSWER) else None,
        answered_by=answered_by,
    )
