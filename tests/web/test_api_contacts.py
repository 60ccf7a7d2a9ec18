"""Bulk contacts over real HTTP: per-row results, atomic rows, opt-outs, one contact's view."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from orchestrator.store.models import Attempt, Contact, DoNotCall
from tests.web.api_support import Api


def contact(i: int, **fields: Any) -> dict[str, Any]:
    return {
        "external_id": f"crm-{i}",
        "phone_number": f"+1415555{i:04d}",
        "variables": {"customer_name": f"Person {i}"},
        **fields,
    }


async def push(api: Api, rows: list[Any], campaign: str = "c") -> Any:
    answer = await api.http.post(f"/v1/campaigns/{campaign}/contacts", json={"contacts": rows})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def stored(api: Api) -> dict[str, Contact]:
    async with api.db.session() as s:
        return {c.external_id: c for c in (await s.exec(select(Contact))).all()}


async def test_each_row_gets_its_result(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c", "allowed_overrides": ["voice"]})
    first = await push(api, [contact(1), contact(2)])
    assert first["summary"] == {"accepted": 2, "updated": 0, "unchanged": 0, "rejected": 0}
    answer = await push(
        api,
        [
            contact(1),  # unchanged
            contact(2, variables={"customer_name": "Bea", "visits": 2}),  # updated
            contact(3, overrides={"tts": {"voice_id": "v9"}}),  # accepted
            contact(4, phone_number="12"),  # rejected
            contact(5, variables={"tags": ["a"]}),  # rejected: an object
            contact(6, overrides={"agent": {"first_message": "Hi"}}),  # not allowed
            "not an object",
        ],
    )
    results = answer["results"]
    assert [r["result"] for r in results] == [
        "unchanged",
        "updated",
        "accepted",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
    ]
    assert [r["index"] for r in results] == list(range(7))
    assert answer["summary"] == {"accepted": 1, "updated": 1, "unchanged": 1, "rejected": 4}
    fields = {r["index"]: {p["field"] for p in r.get("problems", [])} for r in results}
    assert fields[3] == {"phone_number"}
    # The row's own problems first; that it lacks customer_name is checked when it is applied.
    assert fields[4] == {"variables.tags"}
    assert fields[5] == {"overrides.agent.first_message"}
    assert fields[6] == {"(row)"}
    assert all(p["reason"] for r in results for p in r.get("problems", []))
    assert results[3]["external_id"] == "crm-4"
    contacts = await stored(api)
    assert set(contacts) == {"crm-1", "crm-2", "crm-3"}
    assert contacts["crm-2"].variables == {"customer_name": "Bea", "visits": 2}
    assert contacts["crm-3"].overrides == {"tts": {"voice_id": "v9"}}
    assert {r["contact_id"] for r in results[:3]} == {c.id for c in contacts.values()}


async def test_a_repeated_external_id_folds_into_the_last_row(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    answer = await push(
        api, [contact(1), contact(1, variables={"customer_name": "Last"}), contact(2)]
    )
    assert [r["result"] for r in answer["results"]] == ["unchanged", "accepted", "accepted"]
    assert answer["results"][0]["note"] == "superseded by row 1"
    assert (await stored(api))["crm-1"].variables["customer_name"] == "Last"


async def test_a_do_not_call_number_is_accepted_but_never_called(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    async with api.db.session() as s:
        s.add(DoNotCall(phone_number="+14155550001", reason="asked"))
    answer = await push(api, [contact(1), contact(2)])
    assert [r["disposition"] for r in answer["results"]] == ["do_not_call", "pending"]
    async with api.db.session() as s:
        attempts = (await s.exec(select(Attempt.phone_number))).all()
    assert attempts == ["+14155550002"]


async def test_the_body_must_be_an_object_with_a_list_of_at_most_the_limit(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    url = "/v1/campaigns/c/contacts"
    not_json = await api.http.post(
        url, content=b"{nope", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400 and not_json.json()["error"] == "invalid_json"
    bare = await api.http.post(url, json=[contact(1)])
    assert bare.status_code == 422 and bare.json()["problems"][0]["field"] == "contacts"
    too_many = await api.http.post(url, json={"contacts": [contact(i) for i in range(1001)]})
    assert too_many.status_code == 422
    assert "at most 1000" in too_many.json()["problems"][0]["reason"]
    assert await stored(api) == {}


async def test_a_thousand_rows_in_one_request(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    answer = await push(api, [contact(i) for i in range(1000)])
    assert answer["summary"]["accepted"] == 1000
    async with api.db.session() as s:
        assert len((await s.exec(select(Attempt.id))).all()) == 1000


async def test_one_contact_is_shown_with_secrets_masked(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    await push(api, [contact(1, variables={"customer_name": "Ada", "secret__pin": "4242"})])
    answer = await api.http.get("/v1/campaigns/c/contacts/crm-1")
    assert answer.status_code == 200
    body = answer.json()
    assert body["variables"] == {"customer_name": "Ada", "secret__pin": "***"}
    assert (body["disposition"], body["attempts"]) == ("pending", {"scheduled": 1})
    missing = await api.http.get("/v1/campaigns/c/contacts/crm-9")
    assert missing.status_code == 404 and "crm-9" in missing.json()["reason"]


async def test_opt_out_puts_the_number_on_the_list_and_cancels_attempts_everywhere(
    api: Api,
) -> None:
    for name in ("c", "d"):
        await api.http.post("/v1/campaigns", json={"name": name})
        await push(api, [contact(1)], campaign=name)
    answer = await api.http.post(
        "/v1/campaigns/c/contacts/crm-1/opt-out", json={"reason": "asked by email"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"phone_number": "+14155550001", "canceled_attempts": 2}
    async with api.db.session() as s:
        entry = await s.get(DoNotCall, "+14155550001")
        states = (await s.exec(select(Attempt.state))).all()
    assert entry is not None and entry.reason == "asked by email"
    assert states == ["canceled", "canceled"]
    assert {c.disposition for c in (await stored(api)).values()} == {"do_not_call"}
    bare = await api.http.post("/v1/campaigns/c/contacts/crm-1/opt-out")
    assert bare.status_code == 200 and bare.json()["canceled_attempts"] == 0


async def test_a_number_can_be_put_on_the_list_directly(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    await push(api, [contact(7)])
    answer = await api.http.post("/v1/do-not-call", json={"phone_number": "+1 415 555 0007"})
    assert answer.json() == {"phone_number": "+14155550007", "canceled_attempts": 1}
    bad = await api.http.post("/v1/do-not-call", json={"phone_number": "nope"})
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "phone_number"
    missing = await api.http.post("/v1/do-not-call", json={})
    assert missing.status_code == 422


async def test_a_row_for_a_known_contact_changes_what_it_gives_and_keeps_the_rest(
    api: Api,
) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c", "allowed_overrides": ["voice", "tts"]})
    full = contact(
        1,
        timezone="America/Chicago",
        persona="brisk",
        variables={"customer_name": "Ada", "balance": 3, "note": "vip", "secret__pin": "4242"},
        overrides={"tts": {"voice_id": "v1"}},
    )
    assert (await push(api, [full]))["summary"]["accepted"] == 1
    before = (await stored(api))["crm-1"]

    answer = await push(api, [{"external_id": "crm-1", "variables": {"balance": 7}}])
    assert [r["result"] for r in answer["results"]] == ["updated"]
    after = (await stored(api))["crm-1"]
    assert after.variables == {**before.variables, "balance": 7}
    assert (after.phone_number, after.timezone, after.persona, after.overrides) == (
        before.phone_number,
        "America/Chicago",
        "brisk",
        {"tts": {"voice_id": "v1"}},
    )
    # null (or "") removes what it names; the same row again changes nothing.
    removal = {"external_id": "crm-1", "variables": {"note": None}, "persona": None}
    assert [r["result"] for r in (await push(api, [removal]))["results"]] == ["updated"]
    assert [r["result"] for r in (await push(api, [removal]))["results"]] == ["unchanged"]
    after = (await stored(api))["crm-1"]
    assert "note" not in after.variables and after.persona is None
    assert after.variables["secret__pin"] == before.variables["secret__pin"]


async def test_a_row_for_an_unknown_contact_needs_a_number_and_the_required_variables(
    api: Api,
) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    answer = await push(
        api,
        [
            {"external_id": "crm-1", "variables": {"customer_name": "Ada"}},
            {"external_id": "crm-2", "phone_number": "+14155550002"},
            contact(3),
        ],
    )
    assert [r["result"] for r in answer["results"]] == ["rejected", "rejected", "accepted"]
    problems = [[p["field"] for p in r.get("problems", [])] for r in answer["results"]]
    assert problems[:2] == [["phone_number"], ["variables.customer_name"]]
    assert set(await stored(api)) == {"crm-3"}


async def test_overrides_may_be_written_with_dotted_keys_and_are_stored_nested(api: Api) -> None:
    await api.http.post(
        "/v1/campaigns", json={"name": "c", "allowed_overrides": ["first_message", "tts"]}
    )
    answer = await push(
        api,
        [
            contact(1, overrides={"agent.first_message": "Hi", "tts": {"speed": 1.1}}),
            contact(2, overrides={"agent.first_message": "Hi", "agent": {"first_message": "Yo"}}),
        ],
    )
    first, second = answer["results"]
    assert first["result"] == "accepted"
    assert second["result"] == "rejected"
    assert [p["field"] for p in second["problems"]] == ["overrides.agent.first_message"]
    contacts = await stored(api)
    assert contacts["crm-1"].overrides == {"agent": {"first_message": "Hi"}, "tts": {"speed": 1.1}}
    assert "crm-2" not in contacts
