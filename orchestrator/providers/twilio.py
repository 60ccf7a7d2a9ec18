"""Placing calls with our own Twilio account (campaign `dial_mode = "twilio"`).

The provider's `register-call` turns a call's initiation data into TwiML; Twilio places the call
with it, with answering-machine detection, and reports progress to `/webhooks/twilio/status`.
The twilio SDK runs on an httpx-based async HTTP client, so none of its calls block the event
loop and the project keeps one HTTP stack; `base_url` points the SDK at the sandbox in dev.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from twilio.base.exceptions import TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from orchestrator.errors import ProviderAmbiguous, ProviderBusy, ProviderRefused

#: Status callbacks we ask for; `completed` carries `CallDuration` and `AnsweredBy`.
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


class HttpxTwilioClient(AsyncHttpClient):  # type: ignore[misc]
    """The twilio SDK's async HTTP client, on httpx."""

    def __init__(self, *, base_url: str | None = None, timeout: float = 10.0) -> None:
        super().__init__(logger=None, is_async=True, timeout=timeout)
        self._base = urlsplit(base_url) if base_url else None
        self._http = httpx.AsyncClient(timeout=timeout)

    def _rewrite(self, url: str) -> str:
        if self._base is None:
            return url
        parts = urlsplit(url)
        return urlunsplit((self._base.scheme, self._base.netloc, parts.path, parts.query, ""))

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        """Send one request the SDK built."""
        response = await self._http.request(
            method.upper(),
            self._rewrite(uri),
            params=params,  # type: ignore[arg-type]
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            follow_redirects=allow_redirects,
        )
        return TwilioResponse(response.status_code, response.text, response.headers)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()


@dataclass(frozen=True)
class TwilioCall:
    """A call Twilio accepted."""

    call_sid: str


class TwilioDialer:
    """Creates calls through the twilio SDK (async, on httpx)."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._http = HttpxTwilioClient(base_url=base_url, timeout=timeout)
        self._client = Client(account_sid, auth_token, http_client=self._http)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def create_call(
        self, *, to: str, from_: str, twiml: str, status_callback: str
    ) -> TwilioCall:
        """Place one call; sent once, like every dial.

        Raises:
            ProviderBusy: 429 or Twilio unreachable (nothing placed).
            ProviderRefused: another 4xx (nothing placed).
            ProviderAmbiguous: 5xx, timeout or reset (the call may exist).
        """
        try:
            call: Any = await self._client.calls.create_async(
                to=to,
                from_=from_,
                twiml=twiml,
                status_callback=status_callback,
                status_callback_event=STATUS_EVENTS,
                status_callback_method="POST",
                machine_detection="Enable",
            )
        except TwilioRestException as exc:
            if exc.status == 429:
                raise ProviderBusy(f"twilio: {exc.msg}") from exc
            if exc.status >= 500:
                raise ProviderAmbiguous(
                    f"twilio answered {exc.status}", status_code=exc.status
                ) from exc
            raise ProviderRefused(
                f"twilio refused the call: {exc.msg}", status_code=exc.status
            ) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ProviderBusy(f"twilio unreachable: {exc!r}", status_code=None) from exc
        except httpx.TransportError as exc:
            raise ProviderAmbiguous(f"twilio call outcome unknown: {exc!r}") from exc
        return TwilioCall(call_sid=str(call.sid))
