"""Dashboard sign-in: a token once through the form, then a server-side session.

The cookie holds a random session id (never the token), HttpOnly, SameSite=Strict, limited to
/dashboard, Secure over https; only supervisor tokens sign in; expired, idle and revoked
sessions are refused; every form that changes anything needs its CSRF token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from http.cookies import SimpleCookie

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col, select
from typer.testing import CliRunner

from orchestrator.main import app as cli
from orchestrator.settings import Settings
from orchestrator.store.models import WebSession
from orchestrator.store.tokens import find_token, revoke_token
from orchestrator.store.types import utcnow
from orchestrator.store.web_sessions import hash_session_id
from orchestrator.web.app import create_app
from tests.reports.conftest import seed
from tests.web.api_support import Api
from tests.web.browser import csrf_of, sign_in


def cookies_set(response: httpx.Response) -> dict[str, dict[str, str | bool]]:
    """The cookies a response sets, each with its attributes (lower-cased names)."""
    found: dict[str, dict[str, str | bool]] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            attrs: dict[str, str | bool] = {"value": morsel.value}
            attrs.update({k: v for k, v in morsel.items() if v})
            found[name] = attrs
    return found


@contextlib.asynccontextmanager
async def in_process(settings: Settings, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app in this process (lifespan included) behind httpx's ASGI transport at `base_url`."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


async def test_sign_in_sets_a_session_cookie_that_is_not_the_token(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await seed(api.db)
    async with api.client() as browser:
        refused = await browser.get("/dashboard")
        assert refused.status_code == 401
        assert 'action="/dashboard/login"' in refused.text
        signed = await sign_in(browser, api.supervisor, campaign="spring")
        assert signed.status_code == 303, signed.text
        assert signed.headers["location"] == "/dashboard?campaign=spring"
        session = cookies_set(signed)["orch_session"]
        raw = str(session["value"])
        assert api.supervisor not in signed.headers.get_list("set-cookie")[0]
        assert raw != api.supervisor and len(raw) >= 40
        assert session["httponly"] is True
        assert str(session["samesite"]).lower() == "strict"
        assert session["path"] == "/dashboard"
        assert "secure" not in session  # plain http here
        page = await browser.get("/dashboard", params={"campaign": "spring"})
        assert page.status_code == 200
        assert api.supervisor not in page.text and raw not in page.text
        assert (await browser.get("/dashboard/fragment")).status_code == 200
    async with api.db.read() as s:
        stored = (await s.exec(select(WebSession))).one()
    assert stored.id_hash == hash_session_id(raw) != raw
    # What the server side logged (the test's own httpx client logs the headers it receives).
    logged = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))
    )
    assert logged and raw not in logged and api.supervisor not in logged


@pytest.mark.parametrize("where", ["https", "proxy", "public_url"])
async def test_the_cookie_is_secure_when_served_over_https(api: Api, where: str) -> None:
    if where == "proxy":
        # uvicorn trusts X-Forwarded-Proto from loopback (FORWARDED_ALLOW_IPS).
        async with api.client() as browser:
            browser.headers["X-Forwarded-Proto"] = "https"
            page = await browser.get("/dashboard")
            assert cookies_set(page)["orch_signin"]["secure"] is True
            # httpx keeps Secure cookies away from http://, so post the pre-session by hand.
            pre = str(cookies_set(page)["orch_signin"]["value"])
            signed = await browser.post(
                "/dashboard/login",
                data={"token": api.supervisor, "csrf_token": csrf_of(page.text)},
                headers={"Cookie": f"orch_signin={pre}"},
            )
    else:
        base = "https://dash.example" if where == "https" else "http://dash.example"
        settings = api.settings
        if where == "public_url":
            settings = settings.model_copy(update={"public_url": "https://dash.example"})
        async with in_process(settings, base) as browser:
            page = await browser.get("/dashboard")
            assert cookies_set(page)["orch_signin"]["secure"] is True
            pre = str(cookies_set(page)["orch_signin"]["value"])
            signed = await browser.post(
                "/dashboard/login",
                data={"token": api.supervisor, "csrf_token": csrf_of(page.text)},
                headers={"Cookie": f"orch_signin={pre}"},
            )
    assert signed.status_code == 303, signed.text
    assert cookies_set(signed)["orch_session"]["secure"] is True


async def test_a_raw_token_in_the_cookie_or_the_address_is_refused(api: Api) -> None:
    for name in ("orch_session", "orch_dashboard"):  # the new cookie, and the old one
        async with api.client() as browser:
            browser.cookies.set(name, api.supervisor, path="/dashboard")
            assert (await browser.get("/dashboard")).status_code == 401
            assert (await browser.get("/dashboard/fragment")).status_code == 401
    async with api.client() as browser:  # signing in clears the old cookie holding a token
        browser.cookies.set("orch_dashboard", api.supervisor, path="/dashboard")
        signed = await sign_in(browser, api.supervisor)
        assert cookies_set(signed)["orch_dashboard"]["value"] == ""
    async with api.client() as browser:
        address = await browser.get("/dashboard", params={"token": api.supervisor})
        assert address.status_code == 400
        assert "orch_session" not in cookies_set(address)
        assert "address is refused" in address.text
        assert api.supervisor not in address.text


async def test_only_a_supervisor_token_signs_in(api: Api) -> None:
    async with api.client() as browser:
        crm = await sign_in(browser, api.crm)
        assert crm.status_code == 403
        assert "A crm token cannot open the dashboard" in crm.text
        assert "orch_session" not in cookies_set(crm)
        unknown = await sign_in(browser, "orch_nope")
        assert unknown.status_code == 401
        assert "unknown or revoked" in unknown.text
        assert (await browser.get("/dashboard")).status_code == 401


async def _signed_in(api: Api, browser: httpx.AsyncClient) -> str:
    signed = await sign_in(browser, api.supervisor)
    assert signed.status_code == 303, signed.text
    assert (await browser.get("/dashboard/fragment")).status_code == 200
    return str(cookies_set(signed)["orch_session"]["value"])


@pytest.mark.parametrize("ending", ["absolute", "idle", "token_revoked", "cli", "cli_token"])
async def test_ended_sessions_are_refused(api: Api, ending: str) -> None:
    async with api.client() as browser:
        raw = await _signed_in(api, browser)
        async with api.db.session() as s:
            row = (await s.exec(select(WebSession))).one()
            token = await find_token(s, api.supervisor)
            assert token is not None and token.id is not None
            past = utcnow() - timedelta(seconds=1)
            if ending == "absolute":
                await s.exec(update(WebSession).values(expires_at=past))  # type: ignore[call-overload]
            elif ending == "idle":
                idle = timedelta(seconds=api.settings.session_idle_secs)
                await s.exec(update(WebSession).values(last_seen_at=past - idle))  # type: ignore[call-overload]
            elif ending == "token_revoked":
                assert await revoke_token(s, token.id)
        if ending.startswith("cli"):
            args = ["--token", str(token.id)] if ending == "cli_token" else [str(row.id)]
            env = {"ORCH_DATABASE_URL": api.settings.database_url}
            done = await asyncio.to_thread(
                CliRunner().invoke, cli, ["sessions", "revoke", *args], env=env
            )
            assert done.exit_code == 0, done.output
            listed = await asyncio.to_thread(CliRunner().invoke, cli, ["sessions", "list"], env=env)
            assert "revoked" in listed.output and raw not in listed.output
        for path in ("/dashboard", "/dashboard/fragment"):
            refused = await browser.get(path)
            assert refused.status_code == 401, (ending, path)
            assert "session has ended" in refused.text


async def test_sign_out_ends_the_session_everywhere(api: Api) -> None:
    async with api.client() as browser:
        raw = await _signed_in(api, browser)
        page = await browser.get("/dashboard")
        out = await browser.post("/dashboard/logout", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303
        assert cookies_set(out)["orch_session"]["value"] == ""
        assert (await browser.get("/dashboard")).status_code == 401
    async with api.client() as stolen:  # the old id, replayed from elsewhere
        stolen.cookies.set("orch_session", raw, path="/dashboard")
        assert (await stolen.get("/dashboard/fragment")).status_code == 401
    async with api.db.read() as s:
        assert (await s.exec(select(WebSession))).one().revoked_at is not None


async def test_forms_without_their_csrf_token_are_403(api: Api) -> None:
    async with api.client() as browser:
        page = await browser.get("/dashboard")
        sign_in_token = csrf_of(page.text)
        for data in (
            {"token": api.supervisor},
            {"token": api.supervisor, "csrf_token": "0" * 64},
            {"token": api.supervisor, "csrf_token": "é"},
        ):
            refused = await browser.post("/dashboard/login", data=data)
            assert refused.status_code == 403, data
            assert "orch_session" not in cookies_set(refused)
        raw = await _signed_in(api, browser)
        page = await browser.get("/dashboard")
        token = csrf_of(page.text)
        # A form of the session: the sign-in page's token is no good here, nor none, nor junk.
        for data in ({}, {"csrf_token": sign_in_token}, {"csrf_token": token[:-1] + "x"}):
            refused = await browser.post("/dashboard/logout", data=data)
            assert refused.status_code == 403, data
        assert (await browser.get("/dashboard/fragment")).status_code == 200
        # A second sign-in replaces the session: the first one's token is stale.
        await _signed_in(api, browser)
        stale = await browser.post("/dashboard/logout", data={"csrf_token": token})
        assert stale.status_code == 403
        header = await browser.post(
            "/dashboard/logout",
            headers={"X-CSRF-Token": csrf_of((await browser.get("/dashboard")).text)},
        )
        assert header.status_code == 303
    async with api.db.read() as s:
        rows = (await s.exec(select(WebSession).order_by(col(WebSession.id)))).all()
    assert [r.revoked_at is not None for r in rows] == [True, True]
    assert rows[0].id_hash == hash_session_id(raw)
