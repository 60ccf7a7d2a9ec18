"""Tokens and scopes, body size, idempotency keys and the OpenAPI document, over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlmodel import select

from orchestrator.store.models import Contact, IdempotencyRecord
from orchestrator.store.tokens import revoke_token
from tests.web.api_support import Api

ROW = {"external_id": "crm-1", "phone_number": "+14155550123", "variables": {"customer_name": "A"}}


async def test_missing_or_wrong_tokens_are_401_and_wrong_scopes_403(api: Api) -> None:
    routes: list[tuple[str, str, Any]] = [
        ("GET", "/v1/campaigns", None),
        ("POST", "/v1/campaigns", {"name": "c"}),
        ("POST", "/v1/campaigns/c/contacts", {"contacts": []}),
        ("POST", "/v1/calls", {}),
        ("POST", "/v1/do-not-call", {"phone_number": "+14155550123"}),
    ]
    async with api.client() as anonymous, api.client("orch_not-a-token") as forged:
        for method, path, body in routes:
            for client in (anonymous, forged):
                answer = await client.request(method, path, json=body)
                assert answer.status_code == 401, (method, path)
                assert answer.json()["error"] == "unauthorized"
                assert answer.headers["www-authenticate"] == "Bearer"
    async with api.client(api.supervisor) as supervisor:
        assert (await supervisor.get("/v1/campaigns")).status_code == 200
        for method, path, body in routes[1:]:
            answer = await supervisor.request(method, path, json=body)
            assert answer.status_code == 403, (method, path)
            assert answer.json() == {
                "error": "forbidden",
                "reason": "this route needs scope crm; the token has supervisor",
            }
    async with api.db.session() as s:
        from orchestrator.store.tokens import find_token

        token = await find_token(s, api.crm)
        assert token is not None and token.id is not None
        await revoke_token(s, token.id)
    revoked = await api.http.get("/v1/campaigns")
    assert revoked.status_code == 401 and "revoked" in revoked.json()["reason"]


async def test_oversized_bodies_are_413_before_being_read(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    limit = api.settings.max_body_bytes
    big = b'{"contacts": [' + b" " * limit + b"]}"
    for path in ("/v1/campaigns/c/contacts", "/v1/calls", "/v1/campaigns"):
        answer = await api.http.post(
            path, content=big, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 413, path
        assert answer.json()["error"] == "body_too_large"

    async def chunks() -> Any:
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    streamed = await api.http.post(
        "/v1/campaigns/c/contacts", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413 and streamed.json()["error"] == "body_too_large"


async def test_the_same_key_and_body_replays_the_first_answer(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    headers = {"Idempotency-Key": "batch-0001"}
    body = {"contacts": [ROW]}
    first = await api.http.post("/v1/campaigns/c/contacts", json=body, headers=headers)
    # Meanwhile the contact changes: a replay must not re-apply the old row.
    changed = {**ROW, "variables": {"customer_name": "B"}}
    await api.http.post("/v1/campaigns/c/contacts", json={"contacts": [changed]})
    again = await api.http.post("/v1/campaigns/c/contacts", json=body, headers=headers)
    assert again.status_code == first.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    async with api.db.session() as s:
        contact = (await s.exec(select(Contact))).one()
    assert contact.variables == {"customer_name": "B"}


async def test_the_same_key_with_another_body_is_refused(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    headers = {"Idempotency-Key": "k"}
    await api.http.post("/v1/campaigns/c/contacts", json={"contacts": [ROW]}, headers=headers)
    other = await api.http.post("/v1/campaigns/c/contacts", json={"contacts": []}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"] == "idempotency_key_reused"
    elsewhere = await api.http.post("/v1/calls", json={"campaign": "c", **ROW}, headers=headers)
    assert elsewhere.status_code == 422


async def test_keys_are_per_token_and_calls_are_not_doubled(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    payload = {"campaign": "c", **ROW}
    headers = {"Idempotency-Key": "call-1"}
    answers = await asyncio.gather(
        *(api.http.post("/v1/calls", json=payload, headers=headers) for _ in range(4))
    )
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["attempt_id"] for a in answers}) == 1
    async with api.db.session() as s:
        records = (await s.exec(select(IdempotencyRecord))).all()
    assert [r.key for r in records] == ["call-1"]


async def test_a_key_must_be_printable_and_short(api: Api) -> None:
    await api.http.post("/v1/campaigns", json={"name": "c"})
    answer = await api.http.post(
        "/v1/campaigns/c/contacts", json={"contacts": []}, headers={"Idempotency-Key": "x" * 201}
    )
    assert answer.status_code == 422
    assert answer.json()["problems"][0]["field"] == "Idempotency-Key"


async def test_openapi_describes_every_route_and_the_row_schema(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        document = (await anonymous.get("/openapi.json")).json()
    paths = document["paths"]
    for path, method in [
        ("/v1/campaigns", "post"),
        ("/v1/campaigns", "get"),
        ("/v1/campaigns/{campaign}", "get"),
        ("/v1/campaigns/{campaign}", "patch"),
        ("/v1/campaigns/{campaign}/pause", "post"),
        ("/v1/campaigns/{campaign}/resume", "post"),
        ("/v1/campaigns/{campaign}/cancel", "post"),
        ("/v1/campaigns/{campaign}/contacts", "post"),
        ("/v1/campaigns/{campaign}/contacts/{external_id}", "get"),
        ("/v1/campaigns/{campaign}/contacts/{external_id}/opt-out", "post"),
        ("/v1/do-not-call", "post"),
        ("/v1/calls", "post"),
        ("/v1/calls/{attempt_id}", "get"),
    ]:
        assert method in paths[path], (path, method)
    schemas = document["components"]["schemas"]
    contacts = paths["/v1/campaigns/{campaign}/contacts"]["post"]
    ref = contacts["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/ContactsIn"
    assert schemas["ContactsIn"]["properties"]["contacts"]["maxItems"] == 1000
    row = schemas["ContactIn"]["properties"]
    assert set(row) == {
        "external_id",
        "phone_number",
        "timezone",
        "persona",
        "variables",
        "overrides",
    }
    assert set(schemas["EnqueueCallJob"]["properties"]) == {*row, "campaign"}
    assert {"401", "403", "413", "422"} <= set(contacts["responses"])
    assert "CampaignFields" in schemas
