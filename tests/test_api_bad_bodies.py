"""Bad input the fuzzer found gets a documented 4xx naming the field and the reason, never a 500
or FastAPI's own `{"detail": ...}`; and calling hours and `/metrics` are documented as answered.

Over real HTTP (the `api` fixture of `tests/web/api_support.py`).
"""

from __future__ import annotations

import re
from datetime import time
from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.domain.campaign_policy import CallingHours
from orchestrator.domain.windows.rules import LOCAL_TIME_PATTERN
from orchestrator.web.app import create_app
from tests.web import api_support
from tests.web.api_support import Api

api = api_support.api

JSON = {"Content-Type": "application/json"}


def _problems(answer: Any) -> dict[str, str]:
    body = answer.json()
    assert body["error"] == "invalid_request", body
    return {p["field"]: p["reason"] for p in body["problems"]}


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/campaigns"), ("POST", "/v1/calls"), ("POST", "/v1/do-not-call")],
)
async def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(
    api: Api, method: str, path: str
) -> None:
    answer = await api.http.request(method, path, content=b"\xff", headers=JSON)
    assert answer.status_code == 422, answer.text
    assert "UTF-8" in _problems(answer)["body"]


async def test_json_nested_too_deeply_is_a_422_naming_the_body(api: Api) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    answer = await api.http.post("/v1/calls", content=deep, headers=JSON)
    assert answer.status_code == 422, answer.text
    assert "nested too deeply" in _problems(answer)["body"]


async def test_other_http_errors_keep_their_answer(api: Api) -> None:
    answer = await api.http.get("/v1/no-such-route")
    assert (answer.status_code, answer.json()) == (404, {"detail": "Not Found"})


@pytest.mark.parametrize("hours", [{"start": "09:00:00Z"}, {"end": "18:00+02:00"}])
async def test_calling_hours_with_an_offset_are_refused_on_create(
    api: Api, hours: dict[str, str]
) -> None:
    answer = await api.http.post("/v1/campaigns", json={"name": "c", "calling_hours": hours})
    assert answer.status_code == 422, answer.text
    [(field, reason)] = _problems(answer).items()
    assert field == f"body.calling_hours.{next(iter(hours))}"
    assert "without a UTC offset" in reason


async def test_calling_hours_with_an_offset_are_refused_on_patch(api: Api) -> None:
    assert (await api.http.post("/v1/campaigns", json={"name": "c"})).status_code == 201
    answer = await api.http.patch(
        "/v1/campaigns/c", json={"calling_hours": {"start": "09:00Z", "end": "18:00Z"}}
    )
    assert answer.status_code == 422, answer.text
    assert set(_problems(answer)) == {"calling_hours.start", "calling_hours.end"}


@pytest.mark.parametrize("value", ["09:00:00Z", "09:00-05:00", 32400])
def test_calling_hours_refuse_times_with_an_offset(value: object) -> None:
    # An integer (seconds since midnight) is parsed as a UTC time by pydantic: refused too.
    with pytest.raises(ValidationError, match="without a UTC offset"):
        CallingHours.model_validate({"start": value})


def test_calling_hours_answers_match_their_documented_pattern() -> None:
    hours = CallingHours.model_validate({"start": "09:30", "end": time(17, 0, 0, 500_000)})
    answered = hours.model_dump(mode="json")
    assert (answered["start"], answered["end"]) == ("09:30:00", "17:00:00.500000")
    for value in (answered["start"], answered["end"], "09:00"):
        assert re.fullmatch(LOCAL_TIME_PATTERN, value)
    assert not re.fullmatch(LOCAL_TIME_PATTERN, "09:00:00Z")
    documented = CallingHours.model_json_schema()["properties"]["start"]
    assert documented["pattern"] == LOCAL_TIME_PATTERN and "format" not in documented


async def test_metrics_are_documented_and_answered_as_text(api: Api) -> None:
    document = create_app(api.settings).openapi()
    assert list(document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == [
        "text/plain"
    ]
    answer = await api.http.get("/metrics")
    assert answer.headers["content-type"].split(";")[0] == "text/plain"


LONG_INTEGER = b"1" * 5000  # past Python's 4,300-digit limit on reading integers


@pytest.mark.parametrize(
    ("method", "path", "body", "says"),
    [
        ("POST", "/v1/campaigns", b'{"name": "x", "weight": ' + LONG_INTEGER + b"}", "digits"),
        ("POST", "/v1/calls", b'{"campaign": "c", "external_id": ' + LONG_INTEGER + b"}", "digits"),
        ("POST", "/v1/campaigns/c/contacts", b'{"contacts": [' + LONG_INTEGER + b"]}", "digits"),
        ("POST", "/v1/campaigns/c/contacts", b"[" * 100_000 + b"]" * 100_000, "nested"),
        ("POST", "/v1/campaigns/c/contacts", b'{"contacts": \xff}', "UTF-8"),
        ("POST", "/v1/campaigns", b"\xff", "UTF-8"),
        ("POST", "/v1/campaigns/c/contacts", b'{"contacts": [1,]}', "line 1, column 17"),
    ],
)
async def test_bodies_no_parser_can_read_are_refused_in_our_words(
    api: Api, method: str, path: str, body: bytes, says: str
) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    answer = await api.http.request(method, path, content=body, headers=JSON)
    assert 400 <= answer.status_code < 500, answer.text
    text = answer.text
    assert says in text, text
    # Never the parser's own words.
    for raw in ("codec can't decode", "Exceeds the limit", "ValueError", "(char "):
        assert raw not in text, text
