"""Call records, the dial log and concurrency accounting: the sandbox's whole memory.

One `CallBook` per sandbox process. Every accepted dial becomes a `Call` (its dial id is its
position in the log, so the log is ordered and cursors over it are stable). A call is *live* from
the moment it is accepted until it ends — ringing included, exactly as the provider counts
concurrency — and the book keeps the counters a test needs to prove the orchestrator behaved:
peak concurrency, rejections, and whether one number was ever dialled twice at once. Inbound
calls count against the same limit (the provider counts both directions together); they are
not in the dial log, only in `live`, `live_inbound` and `peak_live`.

Everything here runs on the event loop with no awaits, so a check-then-admit is atomic.
"""

from __future__ import annotations

import base64
import math
import secrets
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from orchestrator.dev.sandbox.config import OUTCOMES, Outcome, SandboxConfig

PhoneKind = Literal["twilio", "sip_trunk"]
Status = Literal["initiated", "in-progress", "processing", "done", "failed"]

#: How the provider names each kind inside `metadata.phone_call.type`.
_PHONE_CALL_TYPE: dict[PhoneKind, str] = {"twilio": "twilio", "sip_trunk": "sip_trunking"}


def cost_credits(duration_secs: float, credits_per_minute: int, is_burst: bool) -> int:
    """Credits billed for a call: whole credits per started fraction, doubled above the plan."""
    base = math.ceil(duration_secs / 60.0 * credits_per_minute)
    return base * 2 if is_burst else base


@dataclass(frozen=True)
class DialRequest:
    """What an outbound-call request asked for, already validated."""

    kind: PhoneKind
    agent_id: str
    agent_phone_number_id: str
    to_number: str
    client_data: dict[str, Any] | None = None
    ringing_timeout_secs: float | None = None
    recording_enabled: bool | None = None
    #: Set for calls the caller placed through its own Twilio account (register-call): Twilio's
    #: status callbacks go here, and the provider sends no `call_initiation_failure`.
    twilio_status_callback: str | None = None

    @property
    def user_id(self) -> str | None:
        """The caller's own id for the contact, from `conversation_initiation_client_data`."""
        value = (self.client_data or {}).get("user_id")
        return str(value) if value is not None else None


@dataclass
class Call:
    """One placed call and everything the provider will report about it."""

    dial_id: int
    request: DialRequest
    conversation_id: str
    call_sid: str
    planned: Outcome
    is_burst: bool
    started_at: float
    agent_number: str
    tier: str
    status: Status = "initiated"
    accepted_at: float | None = None
    ended_at: float | None = None
    outcome: Outcome | None = None
    duration_secs: int = 0
    transcript: list[dict[str, Any]] = field(default_factory=list)
    termination_reason: str | None = None
    error: dict[str, Any] | None = None
    analysis: dict[str, Any] | None = None
    cost: int | None = None
    cost_fiat: float | None = None
    has_audio: bool = False

    @property
    def live(self) -> bool:
        """True until the call has ended (ringing counts as live)."""
        return self.ended_at is None

    @property
    def start_unix(self) -> int:
        """`start_time_unix_secs`: when the dial was accepted."""
        return int(self.started_at)

    @property
    def call_successful(self) -> str:
        """The analysis verdict, or what the list endpoint shows before there is one."""
        if self.analysis is not None:
            return str(self.analysis["call_successful"])
        return "failure" if self.status == "failed" else "unknown"

    def metadata(self) -> dict[str, Any]:
        """`metadata` of the conversation record."""
        req = self.request
        meta: dict[str, Any] = {
            "start_time_unix_secs": self.start_unix,
            "call_duration_secs": self.duration_secs,
            "termination_reason": self.termination_reason or "",
            "charging": {
                "is_burst": self.is_burst,
                "tier": self.tier,
                "dev_discount": False,
                "call_charge": self.cost or 0,
                "llm_charge": 0,
            },
            "phone_call": {
                "type": _PHONE_CALL_TYPE[req.kind],
                "direction": "outbound",
                "phone_number_id": req.agent_phone_number_id,
                "agent_number": self.agent_number,
                "external_number": req.to_number,
                "call_sid": self.call_sid,
            },
        }
        if self.accepted_at is not None:
            meta["accepted_time_unix_secs"] = int(self.accepted_at)
        if self.cost is not None:
            meta["cost"] = self.cost
        if self.cost_fiat is not None:
            meta["cost_fiat"] = self.cost_fiat
        if self.error is not None:
            meta["error"] = self.error
        return meta

    def conversation(self) -> dict[str, Any]:
        """The full record, as `GET /v1/convai/conversations/{id}` and the webhook send it."""
        return {
            "agent_id": self.request.agent_id,
            "conversation_id": self.conversation_id,
            "user_id": self.request.user_id,
            "status": self.status,
            "transcript": self.transcript,
            "metadata": self.metadata(),
            "analysis": self.analysis,
            "has_audio": self.has_audio,
            "has_user_audio": self.has_audio,
            "has_response_audio": self.has_audio,
            "conversation_initiation_client_data": self.request.client_data,
        }

    def summary(self) -> dict[str, Any]:
        """One row of `GET /v1/convai/conversations`."""
        row: dict[str, Any] = {
            "agent_id": self.request.agent_id,
            "conversation_id": self.conversation_id,
            "start_time_unix_secs": self.start_unix,
            "call_duration_secs": self.duration_secs,
            "message_count": len(self.transcript),
            "status": self.status,
            "call_successful": self.call_successful,
            "direction": "outbound",
        }
        if self.termination_reason:
            row["termination_reason"] = self.termination_reason
        if self.analysis is not None:
            row["transcript_summary"] = self.analysis.get("transcript_summary")
        return row

    def dial(self) -> dict[str, Any]:
        """One row of `GET /sandbox/dials`."""
        req = self.request
        return {
            "dial_id": self.dial_id,
            "kind": req.kind,
            "agent_id": req.agent_id,
            "agent_phone_number_id": req.agent_phone_number_id,
            "to_number": req.to_number,
            "user_id": req.user_id,
            "conversation_id": self.conversation_id,
            "call_sid": self.call_sid,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "outcome": self.outcome,
            "is_burst": self.is_burst,
        }


@dataclass(frozen=True)
class ListFilter:
    """The filters of the conversation list endpoint (None: no filter)."""

    agent_id: str | None = None
    user_id: str | None = None
    call_start_after_unix: int | None = None
    call_start_before_unix: int | None = None
    call_successful: str | None = None

    def matches(self, call: Call) -> bool:
        """True when `call` passes every filter that is set."""
        req = call.request
        return not (
            (self.agent_id is not None and req.agent_id != self.agent_id)
            or (self.user_id is not None and req.user_id != self.user_id)
            or (
                self.call_start_after_unix is not None
                and call.start_unix < self.call_start_after_unix
            )
            or (
                self.call_start_before_unix is not None
                and call.start_unix >= self.call_start_before_unix
            )
            or (self.call_successful is not None and call.call_successful != self.call_successful)
        )


class InvalidCursor(ValueError):
    """A list cursor this sandbox did not hand out."""


def encode_cursor(dial_id: int) -> str:
    """An opaque cursor meaning "older than dial `dial_id`"."""
    return base64.urlsafe_b64encode(f"dial:{dial_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The dial id inside a cursor.

    Raises:
        InvalidCursor: not a cursor from `encode_cursor`.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        prefix, _, number = text.partition(":")
        dial_id = int(number)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor(cursor) from exc
    if prefix != "dial" or dial_id < 1:
        raise InvalidCursor(cursor)
    return dial_id


def _day(now: float) -> str:
    """The UTC day of a wall-clock time, for the agents' daily limits."""
    return datetime.fromtimestamp(now, UTC).date().isoformat()


class CallBook:
    """Every call the sandbox placed, with the counters `GET /sandbox/summary` reports."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self.calls: list[Call] = []
        self._by_conversation: dict[str, Call] = {}
        #: Calls live now, outbound and inbound (`inbound_live` of them inbound).
        self.live = 0
        self.peak_live = 0
        self.inbound_live = 0
        self._live_by_number: Counter[str] = Counter()
        self.max_live_per_number = 0
        self.overlapping_number_dials = 0
        self.rejected_concurrency = 0
        self._live_by_agent: Counter[str] = Counter()
        self.peak_live_by_agent: Counter[str] = Counter()
        self.rejected_agent_concurrency = 0
        #: Calls placed per (agent, UTC day): the agent's `daily_limit`.
        self._daily: Counter[tuple[str, str]] = Counter()
        self.rejected_daily_limit = 0
        self.rejected_busy = 0
        self.injected_5xx = 0
        self.timeouts_after_place = 0
        self.burst_dials = 0
        self.outcomes: Counter[str] = Counter()

    @property
    def next_dial_id(self) -> int:
        """The dial id the next accepted call will get."""
        return len(self.calls) + 1

    def refusal(self, request: DialRequest, now: float) -> str | None:
        """Why a call for `request` cannot be placed now (and the rejection counted), or None.

        In the provider's order: the workspace's live limit, then the agent's `call_limits`.
        """
        config = self._config
        if self.live >= config.live_limit:
            self.rejected_concurrency += 1
            return "concurrency"
        agent = request.agent_id
        if 0 <= config.agent_concurrency_limit <= self._live_by_agent[agent]:
            self.rejected_agent_concurrency += 1
            return "agent_concurrency"
        if 0 <= config.daily_limit <= self._daily[(agent, _day(now))]:
            self.rejected_daily_limit += 1
            return "daily_limit"
        return None

    def admit(self, request: DialRequest, planned: Outcome, now: float) -> Call | None:
        """Place a call if a live slot is free; None (and a counted rejection) when not."""
        if self.refusal(request, now) is not None:
            return None
        is_burst = self.live >= self._config.concurrency
        call = Call(
            dial_id=self.next_dial_id,
            request=request,
            conversation_id=new_conversation_id(),
            call_sid=new_call_sid(request.kind),
            planned=planned,
            is_burst=is_burst,
            started_at=now,
            agent_number=self._config.agent_number,
            tier=self._config.tier,
        )
        self.calls.append(call)
        self._by_conversation[call.conversation_id] = call
        self.live += 1
        self.peak_live = max(self.peak_live, self.live)
        self.burst_dials += int(is_burst)
        number = request.to_number
        if self._live_by_number[number] > 0:
            self.overlapping_number_dials += 1
        self._live_by_number[number] += 1
        self.max_live_per_number = max(self.max_live_per_number, self._live_by_number[number])
        agent = request.agent_id
        self._live_by_agent[agent] += 1
        self.peak_live_by_agent[agent] = max(
            self.peak_live_by_agent[agent], self._live_by_agent[agent]
        )
        self._daily[(agent, _day(now))] += 1
        return call

    def admit_inbound(self) -> bool:
        """Let an inbound call in if a live slot is free (False: the provider refuses it)."""
        if self.live >= self._config.live_limit:
            return False
        self.live += 1
        self.inbound_live += 1
        self.peak_live = max(self.peak_live, self.live)
        return True

    def end_inbound(self) -> None:
        """An inbound call let in by `admit_inbound` has ended: free its slot."""
        self.live -= 1
        self.inbound_live -= 1

    def end(self, call: Call, outcome: Outcome, now: float) -> None:
        """Mark `call` ended and free its live slot (idempotent)."""
        if not call.live:
            return
        call.ended_at = now
        call.outcome = outcome
        self.live -= 1
        number = call.request.to_number
        self._live_by_number[number] -= 1
        if self._live_by_number[number] <= 0:
            del self._live_by_number[number]
        self._live_by_agent[call.request.agent_id] -= 1
        self.outcomes[outcome] += 1

    def get(self, conversation_id: str) -> Call | None:
        """The call with this conversation id, if the sandbox placed it."""
        return self._by_conversation.get(conversation_id)

    def page(
        self, filters: ListFilter, page_size: int, cursor: str | None
    ) -> tuple[list[Call], str | None]:
        """Newest first, `page_size` calls older than `cursor`; and the cursor of the next page.

        Raises:
            InvalidCursor: the cursor is not one this sandbox handed out.
        """
        below = decode_cursor(cursor) if cursor else len(self.calls) + 1
        found: list[Call] = []
        for call in self._older_than(below):
            if not filters.matches(call):
                continue
            if len(found) == page_size:
                # One more match exists: the next page starts after the last one returned.
                return found, encode_cursor(found[-1].dial_id)
            found.append(call)
        return found, None

    def _older_than(self, dial_id: int) -> Iterator[Call]:
        # Dial ids are positions in the log, so a cursor is a slice: new dials never shift it.
        for index in range(min(dial_id, len(self.calls) + 1) - 2, -1, -1):
            yield self.calls[index]

    def summary(self) -> dict[str, Any]:
        """Counters for `GET /sandbox/summary` (without the webhook counters)."""
        return {
            "dials": len(self.calls),
            "live": self.live,
            "live_inbound": self.inbound_live,
            "peak_live": self.peak_live,
            "rejected_concurrency": self.rejected_concurrency,
            "rejected_agent_concurrency": self.rejected_agent_concurrency,
            "rejected_daily_limit": self.rejected_daily_limit,
            "peak_live_by_agent": dict(self.peak_live_by_agent),
            "rejected_busy": self.rejected_busy,
            "injected_5xx": self.injected_5xx,
            "timeouts_after_place": self.timeouts_after_place,
            "burst_dials": self.burst_dials,
            "max_live_per_number": self.max_live_per_number,
            "overlapping_number_dials": self.overlapping_number_dials,
            "outcomes": {outcome: self.outcomes[outcome] for outcome in OUTCOMES},
        }


def new_conversation_id() -> str:
    """A fresh `conv_…` id; random, not seeded, so restarts never reuse one."""
    return f"conv_{secrets.token_hex(12)}"


def new_call_sid(kind: PhoneKind) -> str:
    """A Twilio `CA` + 32 hex call sid, or a SIP call id."""
    if kind == "twilio":
        return f"CA{secrets.token_hex(16)}"
    return f"{uuid.uuid4()}@sip.sandbox.local"
