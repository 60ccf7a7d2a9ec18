"""The provider's personalization request: who may send it, and what it must hold.

The provider authenticates with a shared secret in a header configured on its side (there is
no signature on this webhook), compared in constant time against every accepted secret so one
can be rotated. The body is `{caller_id, agent_id, called_number, call_sid}`, all strings;
numbers must be valid E.164 and the agent one we know. A refusal carries a JSON reason; nothing
of a refused request is stored or cached.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from orchestrator.domain.phone import is_e164
from orchestrator.errors import PersonalizationRefused
from orchestrator.settings import Settings

#: Accepted in dev when no secret is configured and no real provider is (the sandbox sends it).
SANDBOX_PERSONALIZATION_SECRET = "sandbox-personalization-secret"  # noqa: S105  (dev only)
#: A cheap shape check before the full number validation (which parses the number).
_E164_SHAPE = re.compile(r"^\+[1-9][0-9]{6,14}$")
_FIELDS = ("caller_id", "agent_id", "called_number", "call_sid")
_MAX_TEXT = 200
_NOT_A_NUMBER = "must be a valid phone number in E.164, e.g. +14155550123"


@lru_cache(maxsize=8192)
def _valid_number(value: str) -> bool:
    """Full E.164 validity (the number plan), cached: the called numbers are a few of ours."""
    return is_e164(value)


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """A valid personalization request."""

    caller_id: str
    agent_id: str
    called_number: str
    call_sid: str


def accepted_secrets(settings: Settings) -> list[bytes]:
    """The secrets a request may carry; the sandbox's well-known one in dev when none is set."""
    configured = [
        s.get_secret_value().encode()
        for s in settings.personalization_secrets
        if s.get_secret_value()
    ]
    if not configured and not settings.uses_real_provider:
        return [SANDBOX_PERSONALIZATION_SECRET.encode()]
    return configured


def known_agents(settings: Settings) -> frozenset[str]:
    """Agents the webhook answers for: those declared in the settings, and the default one."""
    return frozenset({*settings.agents, settings.agent_id})


class Gate:
    """Authentication and validation of one request, built once from the settings."""

    def __init__(self, header: str, secrets: Collection[bytes], agents: Collection[str]) -> None:
        self.header = header.lower()
        self._secrets = list(secrets)
        self._agents = frozenset(agents)

    @classmethod
    def from_settings(cls, settings: Settings) -> Gate:
        """The gate the settings describe."""
        return cls(
            settings.personalization_header, accepted_secrets(settings), known_agents(settings)
        )

    @property
    def configured(self) -> bool:
        """False when no secret is accepted (every request is refused)."""
        return bool(self._secrets)

    def authenticate(self, given: str | None) -> None:
        """Refuse (401) unless `given` is an accepted secret (constant-time compare)."""
        if not given:
            raise PersonalizationRefused(
                401, {"error": "unauthorized", "reason": f"missing {self.header} header"}
            )
        candidate = given.encode()
        # Every secret is compared (no early exit), so timing tells nothing about which matched.
        matched = False
        for secret in self._secrets:
            matched |= hmac.compare_digest(candidate, secret)
        if not matched:
            raise PersonalizationRefused(
                401, {"error": "unauthorized", "reason": f"wrong {self.header} secret"}
            )

    def parse(self, body: bytes) -> InboundRequest:
        """The request in `body`; refused 400 when not JSON, 422 naming each field's reason."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise PersonalizationRefused(
                400, {"error": "invalid_json", "reason": f"not JSON: {exc}"}
            ) from None
        if not isinstance(data, dict):
            raise PersonalizationRefused(
                422, {"error": "invalid_request", "reason": "the body must be a JSON object"}
            )
        problems = [(f, r) for f in _FIELDS if (r := self._problem(f, data.get(f)))]
        if problems:
            raise PersonalizationRefused(
                422,
                {
                    "error": "invalid_request",
                    "problems": [{"field": f, "reason": r} for f, r in problems],
                },
            )
        return InboundRequest(
            data["caller_id"], data["agent_id"], data["called_number"], data["call_sid"]
        )

    def check_caller(self, caller_id: str) -> None:
        """Refuse (422) unless `caller_id` is a valid number of its country's plan.

        `parse` checks only its E.164 shape: a number with a precomputed record is a contact's,
        validated when it was imported, so the full check (a parse with `phonenumbers`, the
        largest cost of a hit) is left for callers without one, before the database is asked.
        """
        if not _valid_number(caller_id):
            raise PersonalizationRefused(
                422,
                {
                    "error": "invalid_request",
                    "problems": [{"field": "caller_id", "reason": _NOT_A_NUMBER}],
                },
            )

    def _problem(self, field: str, value: Any) -> str | None:
        if value is None:
            return "required"
        if not isinstance(value, str):
            return "must be a string"
        if not value or len(value) > _MAX_TEXT:
            return f"must be 1 to {_MAX_TEXT} characters"
        if field in ("caller_id", "called_number") and not _E164_SHAPE.fullmatch(value):
            return _NOT_A_NUMBER
        # The caller's number-plan check waits for the lookup (see `check_caller`).
        if field == "called_number" and not _valid_number(value):
            return _NOT_A_NUMBER
        if field == "agent_id" and value not in self._agents:
            return f"unknown agent; this webhook answers for {sorted(self._agents)}"
        return None
