"""The provider's request: secret header (constant-time, several secrets) and body checks."""

from __future__ import annotations

import orjson
import pytest
from pydantic import SecretStr

from orchestrator.errors import PersonalizationRefused
from orchestrator.personalization.request import (
    SANDBOX_PERSONALIZATION_SECRET,
    Gate,
    accepted_secrets,
)
from orchestrator.settings import Settings
from tests.conftest import AGENT

GATE = Gate("X-Secret", [b"old", b"new"], [AGENT])
GOOD = {
    "caller_id": "+14155550123",
    "agent_id": AGENT,
    "called_number": "+14155550100",
    "call_sid": "CA123",
}


def _refusal(body: bytes) -> tuple[int, dict[str, object]]:
    with pytest.raises(PersonalizationRefused) as caught:
        GATE.parse(body)
    return caught.value.status, dict(caught.value.payload)


@pytest.mark.parametrize("secret", ["old", "new"])
def test_any_configured_secret_is_accepted(secret: str) -> None:
    GATE.authenticate(secret)


@pytest.mark.parametrize(("given", "reason"), [(None, "missing"), ("", "missing"), ("ol", "wrong")])
def test_missing_or_wrong_secret_is_401(given: str | None, reason: str) -> None:
    with pytest.raises(PersonalizationRefused) as caught:
        GATE.authenticate(given)
    assert caught.value.status == 401
    assert reason in dict(caught.value.payload)["reason"]


def test_no_secret_configured_refuses_everything() -> None:
    with pytest.raises(PersonalizationRefused):
        Gate("X-Secret", [], [AGENT]).authenticate("anything")


def test_dev_accepts_the_sandbox_secret_but_a_real_provider_needs_one(settings: Settings) -> None:
    assert accepted_secrets(settings) == [SANDBOX_PERSONALIZATION_SECRET.encode()]
    real = settings.model_copy(update={"provider_api_key": SecretStr("k")})
    assert accepted_secrets(real) == []
    rotated = settings.model_copy(
        update={"personalization_secrets": [SecretStr("a"), SecretStr("b")]}
    )
    assert accepted_secrets(rotated) == [b"a", b"b"]


def test_valid_body_is_parsed() -> None:
    parsed = GATE.parse(orjson.dumps(GOOD))
    assert (parsed.caller_id, parsed.agent_id, parsed.call_sid) == ("+14155550123", AGENT, "CA123")


def test_malformed_json_is_400() -> None:
    status, body = _refusal(b'{"caller_id": ')
    assert status == 400
    assert body["error"] == "invalid_json"


def test_non_object_is_422() -> None:
    assert _refusal(b"[1, 2]")[0] == 422


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"caller_id": None}, "caller_id", "required"),
        ({"call_sid": 12}, "call_sid", "string"),
        ({"caller_id": "4155550123"}, "caller_id", "E.164"),
        ({"called_number": "+1415555"}, "called_number", "E.164"),
        ({"called_number": "+99912345678"}, "called_number", "E.164"),
        ({"agent_id": "agent_nobody"}, "agent_id", "unknown agent"),
        ({"call_sid": ""}, "call_sid", "characters"),
    ],
)
def test_each_bad_field_is_named(change: dict[str, object], field: str, reason: str) -> None:
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    status, answer = _refusal(orjson.dumps(body))
    assert status == 422
    problems = answer["problems"]
    assert isinstance(problems, list)
    assert [p["field"] for p in problems] == [field]
    assert reason in problems[0]["reason"]


def test_a_caller_shaped_like_e164_but_outside_any_number_plan_is_refused_by_check_caller() -> None:
    # `parse` checks the caller's shape only; the number plan is checked before the database.
    parsed = GATE.parse(orjson.dumps({**GOOD, "caller_id": "+99912345678"}))
    with pytest.raises(PersonalizationRefused) as caught:
        GATE.check_caller(parsed.caller_id)
    assert caught.value.status == 422
    problems = dict(caught.value.payload)["problems"]
    assert [p["field"] for p in problems] == ["caller_id"]
    assert "E.164" in problems[0]["reason"]
    GATE.check_caller(GOOD["caller_id"])  # a valid one passes
