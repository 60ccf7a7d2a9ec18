"""The dashboard's page: its numbers are the reports', its charts, live calls from Redis.

Signing in, sessions and CSRF are proved in `test_dashboard_sessions.py`.
"""

from __future__ import annotations

import re
import time
from urllib.parse import quote

import pytest
from redis.asyncio import Redis

from orchestrator import keys
from orchestrator.limiter.scopes import account_scope
from orchestrator.limiter.slots import SlotLimiter
from tests.reports.conftest import seed
from tests.web.api_support import Api
from tests.web.browser import sign_in


def metric(page: str, name: str) -> str:
    found = re.search(rf'data-metric="{re.escape(name)}" data-value="([^"]*)"', page)
    assert found, name
    return found.group(1)


async def test_page_numbers_are_the_reports(api: Api) -> None:
    await seed(api.db)
    async with api.client(api.supervisor) as http:
        report = (await http.get("/v1/campaigns/spring/report")).json()
    async with api.client() as browser:
        await sign_in(browser, api.supervisor)
        page = (await browser.get("/dashboard", params={"campaign": "spring"})).text
    for name in ("dials", "answered", "contacts", "successes", "answer_rate", "reach_rate"):
        assert float(metric(page, name)) == report[name], name
    assert float(metric(page, "costs.credits")) == report["costs"]["credits"]
    for chart in ("by_hour", "utilization", "dispositions", "live"):
        assert f'data-chart="{chart}"' in page
    assert "<script nonce=" in page and "http" not in page.split("<script")[1][:40]


async def test_live_calls_come_from_redis_with_burst_apart(api: Api, real_redis: Redis) -> None:
    await seed(api.db)
    limiter = SlotLimiter(real_redis)
    scope = account_scope(api.settings)
    now = time.time()
    for member in ("1", "2", "3"):
        await limiter.hold(member, [scope], now=now, lease_secs=600)
    await real_redis.sadd(keys.burst_marks(), "3", "99")
    async with api.client(api.supervisor) as http:
        live = (await http.get("/v1/live")).json()
    assert (live["in_flight"], live["burst"], live["source"]) == (3, 1, "redis")
    async with api.client() as browser:
        await sign_in(browser, api.supervisor)
        page = (await browser.get("/dashboard")).text
    assert metric(page, "live.in_flight") == "3"
    assert metric(page, "live.burst") == "1"


ODD_CAMPAIGNS = ["99999999999999999999", "-1", "0", "\x00", "x" * 5000, "9" * 400, "²", "%ff"]


@pytest.mark.parametrize("campaign", ODD_CAMPAIGNS, ids=range(len(ODD_CAMPAIGNS)))
async def test_odd_campaign_references_never_fail(api: Api, campaign: str) -> None:
    """The dashboard falls back to every campaign; the report routes answer 404."""
    await seed(api.db)
    far = {"since": "0001-01-01T00:00:00+14:00", "until": "9999-12-31"}
    async with api.client() as browser:
        await sign_in(browser, api.supervisor)
        for path in ("/dashboard", "/dashboard/fragment"):
            page = await browser.get(path, params={"campaign": campaign, **far})
            assert page.status_code == 200, (path, page.text[:300])
            assert 'data-metric="dials"' in page.text
    async with api.client(api.supervisor) as http:
        for suffix in ("report", "report.csv", "contacts.csv"):
            path = f"/v1/campaigns/{quote(campaign, safe='')}/{suffix}"
            response = await http.get(path, params=far)
            assert response.status_code == 404, (path, response.text[:300])
