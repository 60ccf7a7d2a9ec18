"""Errors of the `/v1` API as JSON: `{"error": code, "reason": text}` or, for invalid input,
`{"error": "invalid_request", "problems": [{"field", "reason"}, ...]}`.

Routes and dependencies raise `ApiError`; `install` registers its handler on the app. Our domain
exceptions keep their own mapping in `web/errors.py`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from orchestrator.errors import BodyTooLarge, ValidationFailed
from orchestrator.intake.unreadable import unreadable
from orchestrator.web.body_limit import read_capped, too_large_answer


class Problem(BaseModel):
    """One invalid field and why."""

    field: str
    reason: str


class ErrorBody(BaseModel):
    """Every error answer of the API."""

    error: str
    reason: str | None = None
    problems: list[Problem] | None = None


class ApiError(Exception):
    """An error answer: HTTP status, a stable code, a reason a person can act on."""

    def __init__(
        self,
        status: int,
        error: str,
        reason: str | None = None,
        *,
        problems: list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.error = error
        self.reason = reason
        self.problems = problems
        self.headers = dict(headers or {})
        super().__init__(reason or error)

    def body(self) -> dict[str, Any]:
        """The JSON answer."""
        out: dict[str, Any] = {"error": self.error}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.problems is not None:
            out["problems"] = [{"field": f, "reason": r} for f, r in self.problems]
        return out

    def response(self) -> JSONResponse:
        """As a response."""
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def invalid(exc: ValidationFailed, status: int = 422) -> ApiError:
    """Invalid input, naming each field."""
    return ApiError(status, "invalid_request", problems=exc.problems)


def install(app: FastAPI) -> None:
    """Register the handler of `ApiError` on `app`."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_request: Request, exc: BodyTooLarge) -> JSONResponse:
        return JSONResponse(too_large_answer(exc.limit), status_code=413)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given status codes."""
    text = {
        400: "the body is not JSON",
        401: "missing, unknown or revoked bearer token",
        403: "the token lacks the scope this route needs",
        404: "unknown campaign, contact or call",
        409: "conflict: the name is taken, the number is on the do-not-call list, a call is "
        "already under way, or the campaign is canceled",
        413: "the body is larger than the limit",
        422: "invalid input; each problem names its field and reason (or an Idempotency-Key "
        "reused with a different body)",
    }
    return {code: {"model": ErrorBody, "description": text[code]} for code in codes}


async def json_body(request: Request, limit: int) -> tuple[bytes, Any]:
    """The raw body (capped: 413 beyond `limit`) and its parsed JSON (400 when it is not)."""
    try:
        raw = await read_capped(request, limit)
    except BodyTooLarge as exc:
        raise ApiError(413, "body_too_large", str(exc)) from None
    try:
        return raw, json.loads(raw)
    except (ValueError, RecursionError) as exc:
        reason = unreadable(exc) or "is not JSON"
        raise ApiError(400, "invalid_json", f"the body {reason}") from None
