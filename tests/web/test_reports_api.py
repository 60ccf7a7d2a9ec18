"""Reports over real HTTP: JSON and CSV, the CRM export, and every refusal."""

from __future__ import annotations

import csv
import io

import pytest
from redis.asyncio import Redis

from orchestrator.store.models import ApiToken
from orchestrator.store.tokens import hash_token
from tests.reports.conftest import Known, seed
from tests.web.api_support import Api


async def test_campaign_report_json_equals_the_report(api: Api) -> None:
    await seed(api.db)
    async with api.client(api.supervisor) as http:
        response = await http.get("/v1/campaigns/spring/report")
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["campaign"] == "spring"
    assert (data["dials"], data["answered"], data["successes"]) == (6, 3, 2)
    assert data["costs"]["burst_surcharge_credits"] == 800.0
    assert data["costs"]["price"]["plan"] == api.settings.plan
    assert data["utilization"]["limit"] == api.settings.account_limit


async def test_campaign_by_id_and_csv(api: Api) -> None:
    known: Known = await seed(api.db)
    async with api.client(api.supervisor) as http:
        response = await http.get(f"/v1/campaigns/{known.campaign.id}/report.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["section", "item", "measure", "value"]
    assert ["totals", "dials", "count", "6"] in rows
    assert ["dispositions", "reached", "contacts", "2"] in rows
    assert ["evaluation", "greeting", "success", "2"] in rows


async def test_range_across_campaigns(api: Api) -> None:
    await seed(api.db)
    async with api.client(api.supervisor) as http:
        inside = await http.get(
            "/v1/reports", params={"since": "2025-03-04", "until": "2025-03-04"}
        )
        outside = await http.get("/v1/reports", params={"since": "2025-04-01"})
        as_csv = await http.get("/v1/reports.csv", params={"until": "2025-03-05"})
    assert inside.json()["dials"] == 6
    assert inside.json()["scope"]["campaign"] is None
    assert outside.json()["dials"] == 0
    assert ["totals", "dials", "count", "6"] in list(csv.reader(io.StringIO(as_csv.text)))


async def test_contacts_export_for_the_crm(api: Api) -> None:
    await seed(api.db)
    async with api.client(api.supervisor) as http:
        response = await http.get("/v1/campaigns/spring/contacts.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 7
    first = rows[0]
    assert first["external_id"] == "spring-0"
    assert first["disposition"] == "reached"
    assert first["attempts"] == "1"
    assert first["last_summary"] == "summary 0"
    assert first["data.interest"] == "high"
    assert first["data.budget"] == "100"
    assert rows[2]["data.opt_out"] == "true"
    assert rows[-1]["data.interest"] == ""


async def test_unknown_campaign_is_404(api: Api) -> None:
    async with api.client(api.supervisor) as http:
        for path in (
            "/v1/campaigns/nope/report",
            "/v1/campaigns/nope/report.csv",
            "/v1/campaigns/nope/contacts.csv",
        ):
            response = await http.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"] == "not_found"


async def test_bad_dates_are_422_naming_the_field(api: Api) -> None:
    await seed(api.db)
    cases = {
        "since": {"since": "last week"},
        "until": {"since": "2025-03-05", "until": "2025-03-01"},
    }
    async with api.client(api.supervisor) as http:
        for field, params in cases.items():
            for path in ("/v1/reports", "/v1/campaigns/spring/report"):
                response = await http.get(path, params=params)
                assert response.status_code == 422, (path, params)
                assert [p["field"] for p in response.json()["problems"]] == [field]


async def test_tokens_missing_unknown_or_of_another_scope(api: Api) -> None:
    async with api.db.session() as s:
        s.add(
            ApiToken(
                name="hooks",
                scope="webhooks",
                token_hash=hash_token("orch_other"),
                prefix="orch_other",
            )
        )
    async with api.client() as anonymous, api.client("orch_nope") as unknown:
        assert (await anonymous.get("/v1/reports")).status_code == 401
        assert (await unknown.get("/v1/reports")).status_code == 401
    async with api.client("orch_other") as other:
        response = await other.get("/v1/reports")
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"
    async with api.client(api.crm) as crm:
        assert (await crm.get("/v1/reports")).status_code == 200


async def test_live_counts_redis_leases_and_database_campaigns(api: Api, real_redis: Redis) -> None:
    # `real_redis` flushes the session's redis-server: no lease left by other tests.
    known = await seed(api.db)
    from orchestrator.store.models import Attempt

    async with api.db.session() as s:
        row = await s.get(Attempt, known.attempts[0].id)
        assert row is not None
        row.state = "in_progress"
        row.is_burst = True
    async with api.client(api.supervisor) as http:
        data = (await http.get("/v1/live")).json()
    # Redis holds no lease for it, so Redis (reachable) says none are in flight...
    assert data["source"] == "redis"
    assert data["in_flight"] == 0
    spring = next(c for c in data["campaigns"] if c["name"] == "spring")
    # ...while the campaign's own count comes from the database.
    assert (spring["live"], spring["live_burst"]) == (1, 1)
    assert spring["contacts"] == 7


REPORT_ROUTES = (
    "/v1/reports",
    "/v1/reports.csv",
    "/v1/campaigns/spring/report",
    "/v1/campaigns/spring/report.csv",
)

#: Far but real dates: the range reaches the end of what can be written, never a 500.
FAR_BOUNDS = [
    {"until": "9999-12-31"},
    {"since": "0001-01-01T00:00:00+14:00"},
    {"since": "0001-01-01", "until": "9999-12-31T23:59:59.999999"},
    {"until": "9999-12-31T23:59:59-05:00"},
    {"since": "9999-12-31", "until": "9999-12-31"},
    {"since": "0001-01-01T00:00:00+14:00", "until": "0001-01-02"},
]


@pytest.mark.parametrize("params", FAR_BOUNDS, ids=lambda p: "&".join(p.values()))
async def test_far_dates_reach_the_ends_of_time(api: Api, params: dict[str, str]) -> None:
    await seed(api.db)
    async with api.client(api.supervisor) as http:
        for path in REPORT_ROUTES:
            response = await http.get(path, params=params)
            assert response.status_code == 200, (path, response.text)
        data = (await http.get("/v1/reports", params=params)).json()
    # The seeded calls of 2025 are inside the range unless the range lies wholly at an end.
    whole = "since" not in params or params["since"].startswith("0001")
    whole = whole and ("until" not in params or params["until"].startswith("9999"))
    assert data["dials"] == (6 if whole else 0)


#: (query, the field the 422 names, words its reason holds)
BAD_BOUNDS = [
    ({"until": "10000-01-01"}, "until", "ISO date"),
    ({"since": "2026-02-30"}, "since", "day is out of range"),
    ({"until": "2025-02-29"}, "until", "day is out of range"),
    ({"since": "2025-03-04T25:00"}, "since", "hour must be in"),
    ({"since": "2025-03-04T10:00+24:00"}, "since", "ISO date"),
    ({"since": "2025-03-05", "until": "2025-03-01"}, "until", "must be after since"),
    ({"since": "2025-03-04T12:00", "until": "2025-03-04T12:00"}, "until", "must be after"),
    ({"since": "2025-03-04\x00"}, "since", "ISO date"),
    ({"until": "9" * 5000}, "until", "ISO date"),
    ({"since": "-2025-03-04"}, "since", "ISO date"),
]


@pytest.mark.parametrize(
    ("params", "field", "words"), BAD_BOUNDS, ids=[str(i) for i in range(len(BAD_BOUNDS))]
)
async def test_bad_dates_are_422_on_every_report_route(
    api: Api, params: dict[str, str], field: str, words: str
) -> None:
    await seed(api.db)
    async with api.client(api.supervisor) as http:
        for path in REPORT_ROUTES:
            response = await http.get(path, params=params)
            assert response.status_code == 422, (path, response.text)
            problems = response.json()["problems"]
            assert [p["field"] for p in problems] == [field], path
            assert words in problems[0]["reason"], problems


async def test_a_compact_iso_date_is_still_a_whole_day(api: Api) -> None:
    await seed(api.db)
    async with api.client(api.supervisor) as http:
        compact = (await http.get("/v1/reports", params={"until": "20250304"})).json()
        dashed = (await http.get("/v1/reports", params={"until": "2025-03-04"})).json()
    assert compact["dials"] == dashed["dials"] == 6
    assert compact["scope"] == dashed["scope"]
