"""The dashboard in a real browser: Debian's headless Chromium against a running system.

A LocalStack (redis-server, sandbox, `orchestrator web`, a worker) runs a small campaign to the
end; Chromium (driven by Playwright, the system's build: nothing is downloaded) then opens
`/dashboard?campaign=demo`, signs in with the form as a person would (CSRF token, redirect and
session cookie included), and the DOM it rendered must hold the charts and the JSON report's
numbers. Screenshots at a laptop's and a phone's width are left in the test's folder for people
to look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import re
import shutil
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from orchestrator.dev.demo import (
    DEMO_CLOCK_RATE,
    DEMO_CLOCK_START,
    DEMO_TOML,
    SANDBOX_OPTIONS,
    run_campaign,
    sample_csv,
)
from orchestrator.dev.stack import LocalStack
from orchestrator.store.engine import Database
from orchestrator.store.tokens import create_token

pytestmark = pytest.mark.e2e


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed (make test installs it)")
    return found


@contextlib.contextmanager
def signed_in(base_url: str, token: str, width: int, height: int) -> Iterator[Page]:
    """A fresh browser whose page has signed in with `token` through the form."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(f"{base_url}/dashboard?campaign=demo")
            page.fill("input[name=token]", token)
            page.click("button[type=submit]")
            page.wait_for_selector('svg[data-chart="by_hour"]', timeout=60_000)
            yield page
        finally:
            browser.close()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, str, Path]]:
    """A stack whose small campaign is over, a supervisor token, and a folder for the browser."""
    folder = tmp_path_factory.mktemp("dashboard")
    contacts = folder / "contacts.csv"
    with sample_csv().open() as src, contacts.open("w", newline="") as dst:
        rows = list(csv.DictReader(src))[:30]
        writer = csv.DictWriter(dst, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    stack = LocalStack(
        workdir=folder / "stack", sandbox_options=dict(SANDBOX_OPTIONS), config_toml=DEMO_TOML
    )
    stack.pin_calendar(DEMO_CLOCK_START, DEMO_CLOCK_RATE)
    try:
        stack.start()
        result = asyncio.run(run_campaign(stack, contacts, console=None, timeout=150))
        assert result.report.all_final

        async def token() -> str:
            db = Database(stack.database_url)
            try:
                async with db.session() as s:
                    return (await create_token(s, "browser", "supervisor")).secret
            finally:
                await db.dispose()

        yield stack, asyncio.run(token()), folder
    finally:
        stack.stop()


def _metrics(dom: str) -> dict[str, str]:
    return {
        name: unescape(value)
        for name, value in re.findall(r'data-metric="([^"]+)" data-value="([^"]*)"', dom)
    }


def _json_value(report: dict[str, Any], dotted: str) -> Any:
    value: Any = report
    for part in dotted.split("."):
        value = value[part]
    return value


def test_dashboard_renders_the_reports_numbers_and_charts(
    finished: tuple[LocalStack, str, Path],
) -> None:
    stack, token, _ = finished
    report = httpx.get(
        f"{stack.web_url}/v1/campaigns/demo/report",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    with signed_in(stack.web_url, token, 1366, 2200) as page:
        assert page.url == f"{stack.web_url}/dashboard?campaign=demo"
        dom = page.content()
        cookies = {c["name"]: c for c in page.context.cookies()}
        page.click("text=Sign out")  # a CSRF-checked form, as the browser posts it
        page.wait_for_selector("input[name=token]")
        assert "orch_session" not in {c["name"] for c in page.context.cookies()}
    session = cookies["orch_session"]
    assert session["value"] != token and session["httpOnly"] and session["sameSite"] == "Strict"
    assert token not in dom
    for chart in ("by_hour", "utilization", "dispositions", "live"):
        assert re.search(rf'<svg[^>]*data-chart="{chart}"', dom), chart
    assert dom.count("<rect") > 24  # the hours chart drew its bars
    metrics = _metrics(dom)
    checked = 0
    for name, shown in metrics.items():
        if name.startswith("live."):
            continue  # live figures are not part of the report
        expected = _json_value(report, name)
        if expected is None:
            assert shown == "", name
        else:
            assert float(shown) == pytest.approx(float(expected)), name
        checked += 1
    assert checked >= 25
    assert float(metrics["dials"]) == report["dials"] > 0
    assert int(metrics["live.in_flight"]) == 0  # the campaign is over


def test_screenshots_at_laptop_and_phone_width(finished: tuple[LocalStack, str, Path]) -> None:
    stack, token, folder = finished
    for name, (width, height) in (("laptop", (1366, 2200)), ("phone", (390, 3600))):
        shot = folder / f"dashboard-{name}.png"
        with signed_in(stack.web_url, token, width, height) as page:
            page.screenshot(path=str(shot))
        assert shot.stat().st_size > 20_000, name
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
