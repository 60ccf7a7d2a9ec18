"""A browser's part in the dashboard tests: read the sign-in form's CSRF token, sign in."""

from __future__ import annotations

import re

import httpx

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: str) -> str:
    """The CSRF token of the (first) form on `page`."""
    found = _CSRF.search(page)
    assert found, page[:500]
    return found.group(1)


async def sign_in(browser: httpx.AsyncClient, token: str, **form: str) -> httpx.Response:
    """Open the sign-in page, then post the form with `token` (as a person would)."""
    page = await browser.get("/dashboard/login")
    data = {"token": token, "csrf_token": csrf_of(page.text), **form}
    return await browser.post("/dashboard/login", data=data)
