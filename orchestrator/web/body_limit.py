"""Caps on request bodies, in one place: 413 with a JSON error, never buffered past the cap.

- `BodyLimit`, middleware for path prefixes (`/v1` API, dashboard forms): a declared
  `Content-Length` over the cap is refused before reading; a chunked body is counted as it
  arrives and refused as soon as it passes the cap (raised as an `HTTPException`, the one kind
  FastAPI's body parsing lets through; `web/errors.py` answers it);
- `read_capped`, for routes that read the raw body themselves;
- `too_large_answer`, the JSON every refusal carries (the personalization route writes it
  itself, being raw ASGI).

Post-call webhooks stream under caps of their own kind (`tracking/receive.py`); every refusal is
`errors.BodyTooLarge`.
"""

from __future__ import annotations

import json

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.errors import BodyTooLarge


def too_large_answer(limit: int) -> dict[str, str]:
    """The JSON of a 413."""
    return {"error": "body_too_large", "reason": str(BodyTooLarge(limit))}


async def read_capped(request: Request, limit: int) -> bytes:
    """The raw body, or `BodyTooLarge` as soon as it exceeds `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class BodyLimit:
    """ASGI middleware capping bodies of requests whose path starts with `prefix`."""

    def __init__(self, app: ASGIApp, *, limit: int, prefix: str = "/v1/") -> None:
        self.app = app
        self.limit = limit
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = BodyTooLarge(self.limit)
                    raise HTTPException(413, str(refused)) from refused
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(too_large_answer(self.limit)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
