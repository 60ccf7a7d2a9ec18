"""Campaigns over real HTTP: create, read by id or name, merge-patch, pause/resume/cancel."""

from __future__ import annotations

from sqlmodel import select

from orchestrator.store.models import Attempt, Campaign
from tests.web.api_support import Api

ALLOWED = ["first_message", "voice"]


async def test_create_then_read_by_id_and_by_name(api: Api) -> None:
    created = await api.http.post(
        "/v1/campaigns",
        json={
            "name": "spring renewals",
            "persona": "calm",
            "allowed_overrides": ALLOWED,
            "calling_hours": {"days": ["mon", "tue"], "start": "10:00", "end": "18:00"},
            "retry": {"max_attempts": 5},
            "burst": {"mode": "budget", "max_burst_calls_per_day": 10},
            "phone_number_id": "phnum_9",
            "phone_number_kind": "sip_trunk",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "spring renewals" and body["status"] == "active"
    assert (body["agent_id"], body["phone_number_id"]) == ("agent_test", "phnum_9")
    assert body["calling_hours"] == {"days": [0, 1], "start": "10:00:00", "end": "18:00:00"}
    by_id = await api.http.get(f"/v1/campaigns/{body['id']}")
    by_name = await api.http.get("/v1/campaigns/spring renewals")
    assert body.pop("warnings") == []  # only creating and changing answer them
    assert by_id.json() == by_name.json() == body
    listed = await api.http.get("/v1/campaigns")
    assert [c["name"] for c in listed.json()] == ["spring renewals"]
    async with api.db.session() as s:
        stored = (await s.exec(select(Campaign))).one()
    assert stored.phone_number_kind == "sip_trunk"
    assert stored.config["retry"]["max_attempts"] == 5


async def test_retry_defaults_come_from_the_settings(api: Api) -> None:
    body = (await api.http.post("/v1/campaigns", json={"name": "c"})).json()
    assert body["retry"] == api.settings.retry.model_dump()


async def test_invalid_fields_are_named(api: Api) -> None:
    cases = {
        "persona": {"name": "x", "persona": "nobody"},
        "allowed_overrides": {"name": "x", "allowed_overrides": ["everything"]},
        "retry.max_attempts": {"name": "x", "retry": {"max_attempts": 0}},
        "calling_hours": {"name": "x", "calling_hours": {"start": "18:00", "end": "09:00"}},
        "timezone": {"name": "x", "timezone": "Mars/Olympus"},
        "default_variables.visits": {"name": "x", "default_variables": {"visits": "many"}},
        "default_variables.secret__k": {"name": "x", "default_variables": {"secret__k": "v"}},
        "name": {"name": "12345"},
        "colour": {"name": "x", "colour": "red"},
    }
    for field, payload in cases.items():
        answer = await api.http.post("/v1/campaigns", json=payload)
        assert answer.status_code == 422, (field, answer.text)
        found = [p["field"].removeprefix("body.") for p in answer.json()["problems"]]
        assert any(f.startswith(field) for f in found), (field, found)
    assert (await api.http.get("/v1/campaigns")).json() == []


async def test_a_persona_needs_its_overrides_allowed(api: Api) -> None:
    refused = await api.http.post("/v1/campaigns", json={"name": "x", "persona": "calm"})
    assert refused.status_code == 422
    [problem] = refused.json()["problems"]
    assert problem["field"] == "persona" and "allowed_overrides" in problem["reason"]
    foreign = await api.http.post(
        "/v1/campaigns",
        json={"name": "x", "persona": "other_agent", "allowed_overrides": ["voice"]},
    )
    assert "belongs to agent agent_other" in foreign.json()["problems"][0]["reason"]


async def test_a_taken_name_is_a_conflict(api: Api) -> None:
    assert (await api.http.post("/v1/campaigns", json={"name": "c"})).status_code == 201
    again = await api.http.post("/v1/campaigns", json={"name": "c"})
    assert again.status_code == 409
    assert again.json() == {"error": "conflict", "reason": "a campaign named 'c' already exists"}


async def test_patch_changes_only_what_it_names(api: Api) -> None:
    await api.http.post(
        "/v1/campaigns",
        json={
            "name": "c",
            "persona": "calm",
            "allowed_overrides": ALLOWED,
            "calling_hours": {"days": [0], "start": "09:00", "end": "17:00"},
        },
    )
    patched = await api.http.patch(
        "/v1/campaigns/c", json={"calling_hours": {"end": "19:00"}, "weight": 3}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["calling_hours"] == {"days": [0], "start": "09:00:00", "end": "19:00:00"}
    assert (body["weight"], body["persona"]) == (3, "calm")
    reset = await api.http.patch("/v1/campaigns/c", json={"persona": None})
    assert reset.json()["persona"] is None
    narrowed = await api.http.patch(
        "/v1/campaigns/c", json={"persona": "calm", "allowed_overrides": ["voice"]}
    )
    assert narrowed.status_code == 422
    assert narrowed.json()["problems"][0]["field"] == "persona"
    renamed = await api.http.patch("/v1/campaigns/c", json={"name": "d"})
    assert renamed.status_code == 422
    assert (await api.http.get("/v1/campaigns/c")).json()["persona"] is None


async def test_unknown_campaigns_are_404(api: Api) -> None:
    answers = {
        "nope": await api.http.get("/v1/campaigns/nope"),
        "99": await api.http.get("/v1/campaigns/99"),
        "gone": await api.http.patch("/v1/campaigns/gone", json={"weight": 2}),
        "paused": await api.http.post("/v1/campaigns/paused/pause"),
        "empty": await api.http.post("/v1/campaigns/empty/contacts", json={"contacts": []}),
    }
    for ref, answer in answers.items():
        assert answer.status_code == 404, ref
        assert answer.json() == {"error": "not_found", "reason": f"unknown campaign {ref!r}"}


async def test_pause_resume_cancel(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    rows = [
        {
            "external_id": f"x{i}",
            "phone_number": f"+1415555012{i}",
            "variables": {"customer_name": "A"},
        }
        for i in range(3)
    ]
    await api.http.post("/v1/campaigns/c/contacts", json={"contacts": rows})
    paused = (await api.http.post("/v1/campaigns/c/pause")).json()
    assert paused == {"campaign": "c", "status": "paused", "attempts": 3}
    resumed = (await api.http.post("/v1/campaigns/c/resume")).json()
    assert resumed["status"] == "active"
    canceled = (await api.http.post("/v1/campaigns/c/cancel")).json()
    assert canceled == {"campaign": "c", "status": "canceled", "attempts": 3}
    again = await api.http.post("/v1/campaigns/c/resume")
    assert again.status_code == 409 and "canceled" in again.json()["reason"]
    async with api.db.session() as s:
        states = (await s.exec(select(Attempt.state))).all()
    assert states == ["canceled"] * 3


async def test_patch_takes_the_merge_patch_media_type(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    answer = await api.http.patch(
        "/v1/campaigns/c",
        content=b'{"max_concurrency": 4}',
        headers={"content-type": "application/merge-patch+json"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["max_concurrency"] == 4


async def test_a_boolean_is_not_a_weight_and_far_dates_are_refused(api: Api) -> None:
    cases = {
        "weight": {"name": "x", "weight": True},
        "start_date": {"name": "x", "start_date": "9999-12-31"},
        "end_date": {"name": "x", "end_date": "9999-12-31"},
        "retry.delay_secs.busy": {"name": "x", "retry": {"delay_secs": {"busy": 1e300}}},
        "calling_hours.days.0": {"name": "x", "calling_hours": {"days": ["Monkey"]}},
    }
    for field, payload in cases.items():
        answer = await api.http.post("/v1/campaigns", json=payload)
        assert answer.status_code == 422, (field, answer.text)
        found = [p["field"].removeprefix("body.") for p in answer.json()["problems"]]
        assert field in found, (field, found)
    await api.http.post("/v1/campaigns", json={"name": "c"})
    patched = await api.http.patch("/v1/campaigns/c", json={"weight": False})
    assert patched.status_code == 422 and patched.json()["problems"][0]["field"] == "weight"
    assert [c["name"] for c in (await api.http.get("/v1/campaigns")).json()] == ["c"]


async def test_calling_hours_beyond_the_legal_bounds_are_stored_with_a_warning(api: Api) -> None:
    wide = {"name": "c", "calling_hours": {"start": "06:00", "end": "23:00"}}
    created = await api.http.post("/v1/campaigns", json=wide)
    assert created.status_code == 201, created.text
    [warning] = created.json()["warnings"]
    assert warning["field"] == "calling_hours"
    assert "08:00–21:00" in warning["reason"] and "06:00–23:00" in warning["reason"]
    # Still beyond (until 23:00): warned again; inside the bounds: no warning.
    narrow = await api.http.patch("/v1/campaigns/c", json={"calling_hours": {"start": "09:00"}})
    assert narrow.status_code == 200
    assert [w["field"] for w in narrow.json()["warnings"]] == ["calling_hours"]
    inside = await api.http.patch(
        "/v1/campaigns/c", json={"calling_hours": {"start": "09:00", "end": "20:00"}}
    )
    assert inside.status_code == 200 and inside.json()["warnings"] == []
    # Hours not enforced: the law's bounds are the window, nothing to warn about.
    free = await api.http.post(
        "/v1/campaigns", json={**wide, "name": "d", "enforce_calling_hours": False}
    )
    assert free.json()["warnings"] == []
