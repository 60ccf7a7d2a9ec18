"""Request bodies of the outbound-call endpoints, validated the way the provider validates them.

Refusals come back as FastAPI's standard 422 `{"detail": [{"loc", "msg", "type"}]}` — the same
shape the provider uses — so a client's error handling is exercised for real.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.dev.sandbox.calls import DialRequest, PhoneKind
from orchestrator.domain.phone import is_e164
from orchestrator.domain.variables import SECRET_PREFIX, SYSTEM_PREFIX


class ClientData(BaseModel):
    """`conversation_initiation_client_data`; fields the sandbox does not read pass through."""

    model_config = ConfigDict(extra="allow")

    type: str | None = None
    dynamic_variables: dict[str, Any] | None = None
    conversation_config_override: dict[str, Any] | None = None
    user_id: str | None = None

    @field_validator("dynamic_variables")
    @classmethod
    def _primitive_values(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """Values are strings, numbers or booleans; `system__` names belong to the provider."""
        for name, item in (value or {}).items():
            if name.startswith(SYSTEM_PREFIX):
                raise ValueError(f"dynamic variable {name!r}: the system__ prefix is reserved")
            if isinstance(item, dict | list):
                raise ValueError(
                    f"dynamic variable {name!r}: objects and arrays are not allowed "
                    "(use a string, number, integer or boolean)"
                )
            if not isinstance(item, str | int | float | bool):
                raise ValueError(f"dynamic variable {name!r}: must be a string, number or boolean")
        return value

    def echo(self) -> dict[str, Any]:
        """What was sent, minus `secret__` values (the provider never reports those back)."""
        data = self.model_dump(exclude_unset=True)
        variables = data.get("dynamic_variables")
        if isinstance(variables, dict):
            data["dynamic_variables"] = {
                name: item for name, item in variables.items() if not name.startswith(SECRET_PREFIX)
            }
        return data


class TelephonyCallConfig(BaseModel):
    """`telephony_call_config` (newer API): per-call ringing timeout and recording."""

    model_config = ConfigDict(extra="allow")

    ringing_timeout_secs: int | None = Field(default=None, ge=1, le=600)
    twilio_call_recording_enabled: bool | None = None


class OutboundCallBody(BaseModel):
    """Body of `POST /v1/convai/{twilio,sip-trunk}/outbound-call`."""

    agent_id: str = Field(min_length=1)
    agent_phone_number_id: str = Field(min_length=1)
    to_number: str
    conversation_initiation_client_data: ClientData | None = None
    telephony_call_config: TelephonyCallConfig | None = None
    call_recording_enabled: bool | None = None

    @field_validator("to_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        if not is_e164(value):
            raise ValueError("to_number must be a valid phone number in E.164, e.g. +14155550123")
        return value

    def to_request(self, kind: PhoneKind) -> DialRequest:
        """The validated request, as the call book stores it."""
        telephony = self.telephony_call_config
        client_data = self.conversation_initiation_client_data
        recording = self.call_recording_enabled
        if recording is None and telephony is not None:
            recording = telephony.twilio_call_recording_enabled
        return DialRequest(
            kind=kind,
            agent_id=self.agent_id,
            agent_phone_number_id=self.agent_phone_number_id,
            to_number=self.to_number,
            client_data=client_data.echo() if client_data is not None else None,
            ringing_timeout_secs=(
                float(telephony.ringing_timeout_secs)
                if telephony is not None and telephony.ringing_timeout_secs is not None
                else None
            ),
            recording_enabled=recording,
        )
