"""The dashboard: sign-in by token into a cookie, never echoed; the page's numbers and charts."""

from __future__ import annotations

import re
import time

from redis.asyncio import Redis

from orchestrator import keys
from orchestrator.dialing.scopes import account_scope
from orchestrator.limiter.slots import SlotLimiter
from tests.reports.conftest import seed
from tests.web.api_support import Api


def metric(page: str, name: str) -> str:
    found = re.search(rf'data-metric="{re.escape(name)}" data-value="([^"]*)"', page)
    assert found, name
    return found.group(1)


async def test_token_signs_in_once_and_is_never_in_the_page(api: Api) -> None:
    await seed(api.db)
    async with api.client() as browser:
        refused = await browser.get("/dashboard")
        assert refused.status_code == 401
        assert "<form" in refused.text
        signed = await browser.get("/dashboard", params={"token": api.supervisor})
        assert signed.status_code == 303
        assert signed.headers["location"] == "/dashboard"
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        page = await browser.get("/dashboard")
        assert page.status_code == 200
        assert api.supervisor not in page.text
        assert "nonce-" in page.headers["content-security-policy"]
        fragment = await browser.get("/dashboard/fragment", params={"campaign": "spring"})
        assert fragment.status_code == 200
        out = await browser.post("/dashboard/logout")
        assert out.status_code == 303
        browser.cookies.clear()
        assert (await browser.get("/dashboard/fragment")).status_code == 401


async def test_bad_tokens_are_refused(api: Api) -> None:
    async with api.client() as browser:
        assert (await browser.get("/dashboard", params={"token": "orch_x"})).status_code == 401
        form = await browser.post("/dashboard/login", data={"token": api.supervisor})
        assert form.status_code == 303


async def test_page_numbers_are_the_reports(api: Api) -> None:
    await seed(api.db)
    async with api.client(api.supervisor) as http:
        report = (await http.get("/v1/campaigns/spring/report")).json()
    async with api.client() as browser:
        await browser.get("/dashboard", params={"token": api.supervisor})
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
        await browser.get("/dashboard", params={"token": api.supervisor})
        page = (await browser.get("/dashboard")).text
    assert metric(page, "live.in_flight") == "3"
    assert metric(page, "live.burst") == "1"
