"""The ElevenLabs Agents telephony API over httpx (also spoken by the local sandbox).

The outbound-call POST is not idempotent, so it is sent exactly once: no retry layer wraps it.
Its failures are split by what they tell us about the call:
- the request never left (connection refused, connect timeout) → `ProviderBusy` (nothing placed);
- a definite answer (4xx; 429 concurrency or system busy) → `ProviderRefused` / `ProviderBusy`;
- anything after the request was sent (read timeout, reset, 5xx) → `ProviderAmbiguous`.
Reads (conversations, audio) are idempotent and retried with tenacity, honouring `Retry-After`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

from orchestrator.errors import (
    ProviderAmbiguous,
    ProviderBusy,
    ProviderError,
    ProviderRefused,
    RequestUnsendable,
)

PhoneKind = Literal["twilio", "sip_trunk"]

_OUTBOUND_PATH: dict[str, str] = {
    "twilio": "/v1/convai/twilio/outbound-call",
    "sip_trunk": "/v1/convai/sip-trunk/outbound-call",
}


@dataclass(frozen=True)
class DialResult:
    """What the provider returned for a placed call."""

    conversation_id: str | None
    call_sid: str | None


class _Retryable(Exception):
    def __init__(self, status: int, retry_after: float | None) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"HTTP {status}")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class _WaitRetryAfter(wait_base):
    """Wait what the server asked for, else exponential backoff with jitter."""

    def __init__(self) -> None:
        self._fallback = wait_exponential_jitter(multiplier=0.2, max=10.0)

    def __call__(self, retry_state: Any) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, 60.0)
        return float(self._fallback(retry_state))


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, _Retryable | httpx.TransportError)


def _detail_status(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        return str(detail.get("status") or "")
    return ""


class ElevenLabsClient:
    """Async client for the calls the orchestrator makes."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        read_attempts: int = 4,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"xi-api-key": api_key},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
            limits=httpx.Limits(max_connections=400, max_keepalive_connections=100),
        )
        self._read_attempts = read_attempts

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def _request(self, path: str, body: dict[str, Any]) -> httpx.Request:
        """A POST of `body` as JSON, built apart from sending it: a body JSON cannot carry (a lone
        surrogate, NaN) fails here, where it is certain that nothing was sent.

        Raises:
            RequestUnsendable: the body cannot be encoded.
        """
        try:
            return self._http.build_request("POST", path, json=body)
        except (ValueError, TypeError) as exc:
            raise RequestUnsendable(
                f"the request could not be encoded, so it was not sent: {exc}"
            ) from exc

    async def outbound_call(
        self,
        kind: PhoneKind,
        *,
        agent_id: str,
        phone_number_id: str,
        to_number: str,
        initiation_data: dict[str, Any] | None,
    ) -> DialResult:
        """Place one call. Sent once; see the module docstring for the error mapping.

        Raises:
            ProviderBusy: 429 or the request never reached the provider.
            ProviderRefused: another 4xx.
            ProviderAmbiguous: the call may have been placed.
        """
        body: dict[str, Any] = {
            "agent_id": agent_id,
            "agent_phone_number_id": phone_number_id,
            "to_number": to_number,
        }
        if initiation_data:
            body["conversation_initiation_client_data"] = initiation_data
        request = self._request(_OUTBOUND_PATH[kind], body)
        try:
            response = await self._http.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ProviderBusy(f"provider unreachable: {exc!r}", status_code=None) from exc
        except httpx.TransportError as exc:
            raise ProviderAmbiguous(f"dial outcome unknown: {exc!r}") from exc
        status = response.status_code
        if status == 429:
            raise ProviderBusy(
                _detail_status(response) or "too_many_requests",
                retry_after=_retry_after(response),
            )
        if status >= 500:
            raise ProviderAmbiguous(f"provider answered {status}", status_code=status)
        if status >= 400:
            raise ProviderRefused(
                f"provider refused the call ({status}): {response.text[:500]}", status_code=status
            )
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ProviderAmbiguous(
                "provider answered 2xx without a JSON object", status_code=status
            )
        call_sid = data.get("callSid") or data.get("call_sid") or data.get("sip_call_id")
        return DialResult(conversation_id=data.get("conversation_id"), call_sid=call_sid)

    async def register_call(
        self,
        *,
        agent_id: str,
        from_number: str,
        to_number: str,
        initiation_data: dict[str, Any] | None,
    ) -> str:
        """The TwiML that connects a call placed with our own Twilio client to the agent.

        Registering places no call, so it is safe to retry; a failure raises before any dial.

        Raises:
            ProviderBusy: 429, 5xx or unreachable (retry later).
            ProviderRefused: another 4xx.
        """
        body: dict[str, Any] = {
            "agent_id": agent_id,
            "from_number": from_number,
            "to_number": to_number,
            "direction": "outbound",
        }
        if initiation_data:
            body["conversation_initiation_client_data"] = initiation_data
        request = self._request("/v1/convai/twilio/register-call", body)
        try:
            response = await self._http.send(request)
        except httpx.TransportError as exc:
            raise ProviderBusy(f"register-call failed: {exc!r}", status_code=None) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderBusy(f"register-call answered {response.status_code}")
        if response.status_code >= 400:
            raise ProviderRefused(
                f"register-call refused ({response.status_code}): {response.text[:500]}",
                status_code=response.status_code,
            )
        text = response.text
        # Some versions answer the TwiML as a JSON string.
        if text.startswith('"'):
            text = str(response.json())
        return text

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_is_transient),
            stop=stop_after_attempt(self._read_attempts),
            wait=_WaitRetryAfter(),
            reraise=True,
        ):
            with attempt:
                response = await self._http.get(path, params=params)
                if response.status_code == 429 or response.status_code >= 500:
                    raise _Retryable(response.status_code, _retry_after(response))
                return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def get_conversation(self, conversation_id: str) -> dict[str, Any] | None:
        """The conversation record, or None when the provider does not know it."""
        try:
            response = await self._get(f"/v1/convai/conversations/{conversation_id}")
        except (_Retryable, httpx.TransportError) as exc:
            raise ProviderError(f"conversation lookup failed: {exc!r}") from exc
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise ProviderError(f"conversation lookup answered {response.status_code}")
        data = response.json()
        return data if isinstance(data, dict) else None

    async def list_conversations(
        self,
        *,
        agent_id: str | None = None,
        user_id: str | None = None,
        call_start_after_unix: int | None = None,
        page_size: int = 100,
        max_pages: int = 20,
    ) -> list[dict[str, Any]]:
        """Conversation summaries matching the filters, following the cursor."""
        params: dict[str, Any] = {"page_size": page_size}
        if agent_id:
            params["agent_id"] = agent_id
        if user_id:
            params["user_id"] = user_id
        if call_start_after_unix is not None:
            params["call_start_after_unix"] = call_start_after_unix
        found: list[dict[str, Any]] = []
        for _ in range(max_pages):
            try:
                response = await self._get("/v1/convai/conversations", params)
            except (_Retryable, httpx.TransportError) as exc:
                raise ProviderError(f"conversation listing failed: {exc!r}") from exc
            if response.status_code >= 400:
                raise ProviderError(f"conversation listing answered {response.status_code}")
            page = response.json()
            found.extend(page.get("conversations") or [])
            if not page.get("has_more") or not page.get("next_cursor"):
                break
            params["cursor"] = page["next_cursor"]
        return found

    @asynccontextmanager
    async def audio(self, conversation_id: str) -> AsyncIterator[httpx.Response | None]:
        """Stream a recording (`audio/mpeg`); yields None when there is none."""
        async with self._http.stream(
            "GET", f"/v1/convai/conversations/{conversation_id}/audio"
        ) as response:
            if response.status_code == 404:
                yield None
                return
            if response.status_code >= 400:
                raise ProviderError(f"audio download answered {response.status_code}")
            yield response
