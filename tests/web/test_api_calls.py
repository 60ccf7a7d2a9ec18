"""`POST /v1/calls` over real HTTP: one call now, with values for that call only."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from orchestrator.secretbox import SecretBox
from orchestrator.store.models import Attempt, Contact
from tests.web.api_support import KEY, Api


def call(**fields: Any) -> dict[str, Any]:
    return {
        "campaign": "c",
        "external_id": "crm-1",
        "phone_number": "+14155550123",
        "variables": {"customer_name": "Ada"},
        **fields,
    }


async def attempts(api: Api) -> list[Attempt]:
    async with api.db.session() as s:
        return list((await s.exec(select(Attempt).order_by(Attempt.id))).all())  # type: ignore[arg-type]


async def test_a_call_is_scheduled_now_with_its_own_values(api: Api) -> None:
    await api.http.post(
        "/v1/campaigns", json={"name": "c", "allowed_overrides": ["voice", "first_message"]}
    )
    answer = await api.http.post(
        "/v1/calls",
        json=call(
            call={
                "variables": {"order": "A-17", "secret__otp": "PLANTED_OTP_991"},
                "persona": "calm",
                "overrides": {"agent": {"first_message": "About order {{order}}"}},
            }
        ),
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["contact"], body["state"], body["campaign_status"]) == (
        "accepted",
        "scheduled",
        "active",
    )
    [attempt] = await attempts(api)
    assert attempt.id == body["attempt_id"] and attempt.state == "scheduled"
    assert attempt.call_data["persona"] == "calm"
    assert attempt.call_data["overrides"] == {"agent": {"first_message": "About order {{order}}"}}
    sealed = attempt.call_data["variables"]
    assert sealed["order"] == "A-17" and sealed["secret__otp"] != "PLANTED_OTP_991"
    assert SecretBox([KEY]).open(sealed)["secret__otp"] == "PLANTED_OTP_991"
    # The call's values are the call's: the contact keeps its own.
    async with api.db.session() as s:
        contact = (await s.exec(select(Contact))).one()
    assert contact.variables == {"customer_name": "Ada"}
    assert "PLANTED_OTP_991" not in answer.text

    state = await api.http.get(f"/v1/calls/{body['attempt_id']}")
    assert state.status_code == 200
    assert (state.json()["state"], state.json()["external_id"]) == ("scheduled", "crm-1")


async def test_a_waiting_attempt_is_reused_and_a_finished_contact_gets_a_new_one(
    api: Api,
) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    first = (await api.http.post("/v1/calls", json=call())).json()
    second = (await api.http.post("/v1/calls", json=call(call={"variables": {"x": 1}}))).json()
    assert second["attempt_id"] == first["attempt_id"]
    async with api.db.session() as s:
        attempt = await s.get(Attempt, first["attempt_id"])
        assert attempt is not None
        attempt.state = "completed"
    third = (await api.http.post("/v1/calls", json=call())).json()
    rows = await attempts(api)
    assert third["attempt_id"] != first["attempt_id"]
    assert [(a.seq, a.state) for a in rows] == [(1, "completed"), (2, "scheduled")]


async def test_a_call_under_way_is_a_conflict(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    body = (await api.http.post("/v1/calls", json=call())).json()
    async with api.db.session() as s:
        attempt = await s.get(Attempt, body["attempt_id"])
        assert attempt is not None
        attempt.state = "initiated"
    answer = await api.http.post("/v1/calls", json=call())
    assert answer.status_code == 409
    assert answer.json()["error"] == "call_in_progress"


async def test_a_number_on_the_do_not_call_list_is_a_conflict(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    await api.http.post("/v1/do-not-call", json={"phone_number": "+14155550123"})
    answer = await api.http.post("/v1/calls", json=call())
    assert answer.status_code == 409
    assert answer.json()["error"] == "do_not_call"
    assert "+14155550123" in answer.json()["reason"]
    assert await attempts(api) == []


async def test_invalid_calls_name_every_field_and_store_nothing(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    answer = await api.http.post(
        "/v1/calls",
        json=call(
            phone_number="12",
            call={
                "variables": {"system__x": 1, "deep": {"a": 1}},
                "persona": "nobody",
                "overrides": {"tts": {"voice_id": "v"}},
            },
        ),
    )
    assert answer.status_code == 422
    fields = {p["field"] for p in answer.json()["problems"]}
    assert fields == {
        "phone_number",
        "call.variables.system__x",
        "call.variables.deep",
        "call.persona",
        "call.overrides.tts.voice_id",
    }
    assert await attempts(api) == []
    unknown = await api.http.post("/v1/calls", json=call(campaign="nope"))
    assert unknown.status_code == 404
    shape = await api.http.post("/v1/calls", json={"campaign": "c"})
    assert shape.status_code == 422
    assert [p["field"] for p in shape.json()["problems"]] == ["body.external_id"]
    assert (await api.http.get("/v1/calls/999")).status_code == 404


async def test_a_canceled_campaign_takes_no_calls(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    await api.http.post("/v1/campaigns/c/cancel")
    answer = await api.http.post("/v1/calls", json=call())
    assert answer.status_code == 409 and answer.json()["error"] == "campaign_canceled"


async def test_a_call_to_a_known_contact_never_erases_what_it_omits(api: Api) -> None:
    """Finding 3: a call naming only `customer_name` kept every other stored value."""
    await api.http.post("/v1/campaigns", json={"name": "c", "allowed_overrides": ["language"]})
    pushed = await api.http.post(
        "/v1/campaigns/c/contacts",
        json={
            "contacts": [
                {
                    "external_id": "crm-1",
                    "phone_number": "+14155550123",
                    "timezone": "America/New_York",
                    "variables": {
                        "customer_name": "Ada",
                        "balance": 12.5,
                        "secret__token": "tok_PLANTED_1",
                    },
                    "overrides": {"agent": {"language": "fr"}},
                }
            ]
        },
    )
    assert pushed.status_code == 200, pushed.text
    async with api.db.session() as s:
        before = (await s.exec(select(Contact))).one()

    answer = await api.http.post(
        "/v1/calls",
        json={
            "campaign": "c",
            "external_id": "crm-1",
            "phone_number": "+14155550123",
            "variables": {"customer_name": "Ada L"},
        },
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["contact"] == "updated"
    async with api.db.session() as s:
        after = (await s.exec(select(Contact))).one()
    opened = SecretBox([KEY]).open(after.variables)
    assert opened == {"customer_name": "Ada L", "balance": 12.5, "secret__token": "tok_PLANTED_1"}
    # An unchanged secret keeps its ciphertext (nothing was re-sealed).
    assert after.variables["secret__token"] == before.variables["secret__token"]
    assert (after.phone_number, after.timezone) == ("+14155550123", "America/New_York")
    assert after.overrides == {"agent": {"language": "fr"}}


async def test_a_known_contact_is_called_by_its_external_id_alone(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    assert (await api.http.post("/v1/calls", json=call())).status_code == 202
    async with api.db.session() as s:
        attempt = (await s.exec(select(Attempt))).one()
        attempt.state = "completed"
        s.add(attempt)
    answer = await api.http.post("/v1/calls", json={"campaign": "c", "external_id": "crm-1"})
    assert answer.status_code == 202, answer.text
    assert answer.json()["contact"] == "unchanged"
    async with api.db.session() as s:
        contact = (await s.exec(select(Contact))).one()
    assert contact.variables == {"customer_name": "Ada"}
    assert contact.phone_number == "+14155550123"


async def test_a_new_contact_still_needs_its_number_and_required_variables(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    answer = await api.http.post("/v1/calls", json={"campaign": "c", "external_id": "crm-9"})
    assert answer.status_code == 422, answer.text
    fields = {p["field"] for p in answer.json()["problems"]}
    assert fields == {"phone_number", "variables.customer_name"}
    assert await attempts(api) == []
    # Removing a required variable (null) from a known contact is refused too.
    assert (await api.http.post("/v1/calls", json=call())).status_code == 202
    removed = await api.http.post(
        "/v1/calls",
        json={"campaign": "c", "external_id": "crm-1", "variables": {"customer_name": None}},
    )
    assert removed.status_code == 422, removed.text
    assert [p["field"] for p in removed.json()["problems"]] == ["variables.customer_name"]
