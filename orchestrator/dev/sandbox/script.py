"""What a simulated call "said": transcript, analysis and failure details, in the provider's shapes.

Pure functions of a call, its outcome and a random generator, so a seeded sandbox produces the
same conversations every run. The content is deliberately plain; what matters is that the
shapes, tool names and flags are the ones the orchestrator reads (`voicemail_detection`,
`transfer_to_number`, `end_call`, data collection `interested` / `opt_out`).
"""

from __future__ import annotations

import json
import random
import re
import secrets
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from orchestrator.dev.sandbox.calls import Call
from orchestrator.dev.sandbox.config import Outcome

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_\-.]+)\s*\}\}")
_TRANSFER_TO = "+14155550199"


@dataclass(frozen=True)
class Script:
    """The content of one answered call."""

    transcript: list[dict[str, Any]]
    termination_reason: str
    analysis: dict[str, Any]


@dataclass(frozen=True)
class _Line:
    role: str
    message: str
    tools: tuple[tuple[str, dict[str, Any]], ...] = ()


def _tool_call(name: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    request_id = f"toolu_{secrets.token_hex(8)}"
    call = {
        "type": "system",
        "request_id": request_id,
        "tool_name": name,
        "params_as_json": json.dumps(params),
        "tool_has_been_called": True,
        "tool_details": None,
    }
    result = {
        "type": "system",
        "request_id": request_id,
        "tool_name": name,
        "result_value": json.dumps({"status": "ok"}),
        "is_error": False,
        "tool_has_been_called": True,
    }
    return call, result


def _turns(lines: list[_Line], duration_secs: int) -> list[dict[str, Any]]:
    """Spread the lines evenly over the call, in the provider's turn shape."""
    step = duration_secs / max(len(lines), 1)
    turns: list[dict[str, Any]] = []
    for index, line in enumerate(lines):
        pairs = [_tool_call(name, params) for name, params in line.tools]
        turns.append(
            {
                "role": line.role,
                "message": line.message,
                "time_in_call_secs": int(index * step),
                "tool_calls": [call for call, _ in pairs],
                "tool_results": [result for _, result in pairs],
                "feedback": None,
            }
        )
    return turns


def _variables(call: Call) -> dict[str, Any]:
    data = call.request.client_data or {}
    variables = data.get("dynamic_variables")
    return dict(variables) if isinstance(variables, dict) else {}


def _first_message(call: Call) -> str:
    """The agent's override first message with placeholders filled, or a stock greeting."""
    variables = _variables(call)
    data = call.request.client_data or {}
    override = data.get("conversation_config_override")
    agent = override.get("agent") if isinstance(override, dict) else None
    template = agent.get("first_message") if isinstance(agent, dict) else None
    if not isinstance(template, str) or not template:
        name = variables.get("customer_name") or variables.get("name")
        template = f"Hi {name}!" if name else "Hi there!"
        template += " This is Alex calling from Sandbox Services. Do you have a minute?"
    return _PLACEHOLDER.sub(lambda m: str(variables.get(m.group(1), m.group(0))), template)


def _criteria(result: str, rationale: str) -> dict[str, Any]:
    return {
        "goal_achieved": {"criteria_id": "goal_achieved", "result": result, "rationale": rationale}
    }


def _collected(interested: bool | None, opt_out: bool) -> dict[str, Any]:
    return {
        "interested": {
            "data_collection_id": "interested",
            "value": interested,
            "rationale": "Inferred from the contact's answers."
            if interested is not None
            else "No person was reached.",
        },
        "opt_out": {
            "data_collection_id": "opt_out",
            "value": opt_out,
            "rationale": "The contact asked not to be called again."
            if opt_out
            else "The contact did not ask to be removed.",
        },
    }


def voicemail_script(call: Call, duration_secs: int) -> Script:
    """A machine answered: the agent detects it and hangs up (a connected call, not a failure)."""
    lines = [
        _Line("agent", _first_message(call)),
        _Line(
            "user",
            f"Hi, you've reached {call.request.to_number}. Please leave a message after the tone.",
        ),
        _Line(
            "agent",
            "",
            (("voicemail_detection", {"reason": "Greeting of an answering service detected"}),),
        ),
    ]
    analysis = {
        "call_successful": "unknown",
        "transcript_summary": "The call reached a voicemail greeting; the agent hung up.",
        "call_summary_title": "Voicemail reached",
        "evaluation_criteria_results": _criteria("unknown", "Only a voicemail greeting answered."),
        "data_collection_results": _collected(None, False),
    }
    return Script(
        transcript=_turns(lines, duration_secs),
        termination_reason="Voicemail detected: voicemail_detection tool was called.",
        analysis=analysis,
    )


def answered_script(
    call: Call,
    outcome: Outcome,
    duration_secs: int,
    rng: random.Random,
    *,
    transfer_rate: float,
    opt_out_rate: float,
) -> Script:
    """A person answered; `outcome` is the agent's verdict (`success` or `failure`)."""
    if outcome == "voicemail":
        return voicemail_script(call, duration_secs)
    success = outcome == "success"
    opt_out = rng.random() < opt_out_rate
    transfer = success and not opt_out and rng.random() < transfer_rate
    lines = [_Line("agent", _first_message(call)), _Line("user", "Sure, what is it about?")]
    lines.append(_Line("agent", "We have a new plan that could lower your monthly bill."))
    if opt_out:
        lines.append(_Line("user", "Please take me off your list and don't call me again."))
        lines.append(_Line("agent", "Understood, we will not call you again. Goodbye."))
    elif success:
        lines.append(_Line("user", "That sounds good, I'm interested."))
    else:
        lines.append(_Line("user", "No thanks, I'm not interested."))
        lines.append(_Line("agent", "No problem, thank you for your time. Goodbye."))
    if transfer:
        params = {
            "transfer_number": _TRANSFER_TO,
            "client_message": "Let me connect you with a specialist.",
            "agent_message": "Interested contact, please take over.",
        }
        lines.append(
            _Line(
                "agent", "Let me connect you with a specialist.", (("transfer_to_number", params),)
            )
        )
        reason = "Call transferred: transfer_to_number tool was called."
    else:
        if success and not opt_out:
            lines.append(_Line("agent", "Wonderful, I'll send you the details. Goodbye!"))
        last = lines[-1]
        lines[-1] = _Line(
            last.role, last.message, (("end_call", {"reason": "conversation finished"}),)
        )
        reason = "end_call tool was called."
    verdict = "success" if success else "failure"
    summary = (
        "The contact asked to be removed from the calling list."
        if opt_out
        else "The contact was interested in the offer."
        if success
        else "The contact declined the offer."
    )
    analysis = {
        "call_successful": verdict,
        "transcript_summary": summary,
        "call_summary_title": "Interested contact" if success else "Offer declined",
        "evaluation_criteria_results": _criteria(verdict, summary),
        "data_collection_results": _collected(success and not opt_out, opt_out),
    }
    return Script(
        transcript=_turns(lines, duration_secs), termination_reason=reason, analysis=analysis
    )


#: Outcome → (failure_reason, Twilio CallStatus, SIP status code, SIP reason phrase).
_FAILURES: dict[Outcome, tuple[str, str, int, str]] = {
    "no_answer": ("no-answer", "no-answer", 480, "Temporarily Unavailable"),
    "busy": ("busy", "busy", 486, "Busy Here"),
    "failed": ("unknown", "failed", 503, "Service Unavailable"),
}


def failure_error(outcome: Outcome) -> tuple[str, dict[str, Any]]:
    """The termination reason and `metadata.error` of a call that never connected."""
    reason, _, code, phrase = _FAILURES[outcome]
    return f"call_initiation_failure: {reason}", {"code": code, "reason": phrase}


def initiation_failure(call: Call, outcome: Outcome) -> dict[str, Any]:
    """`data` of a `call_initiation_failure` webhook, with the carrier's own report in `body`."""
    reason, twilio_status, sip_code, sip_phrase = _FAILURES[outcome]
    req = call.request
    body: dict[str, Any]
    if req.kind == "twilio":
        # Twilio's status-callback form fields, all strings as Twilio posts them.
        body = {
            "AccountSid": "AC" + "0" * 32,
            "ApiVersion": "2010-04-01",
            "CallSid": call.call_sid,
            "CallStatus": twilio_status,
            "CallDuration": "0",
            "Direction": "outbound-api",
            "From": call.agent_number,
            "To": req.to_number,
            "Called": req.to_number,
            "Caller": call.agent_number,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": "2",
            "Timestamp": _rfc2822(call.ended_at or call.started_at),
        }
        kind = "twilio"
    else:
        body = {"sip_status_code": sip_code, "error_reason": sip_phrase, "call_id": call.call_sid}
        kind = "sip"
    return {
        "agent_id": req.agent_id,
        "conversation_id": call.conversation_id,
        "failure_reason": reason,
        "metadata": {"type": kind, "body": body},
    }


def _rfc2822(unix: float) -> str:
    return formatdate(unix, usegmt=True)
