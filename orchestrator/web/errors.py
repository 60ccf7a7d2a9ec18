"""The only place our exceptions become HTTP answers: JSON with the field and the reason."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from orchestrator.errors import BodyTooLarge, NotFound, SignatureError, ValidationFailed
from orchestrator.intake.unreadable import unreadable
from orchestrator.web.body_limit import too_large_answer


def _problems(exc: ValidationFailed) -> list[dict[str, str]]:
    return [{"field": field, "reason": reason} for field, reason in exc.problems]


def body_parse_failure(exc: HTTPException) -> str | None:
    """Why FastAPI could not parse a body it reads for a route, or None for any other error.

    FastAPI answers a body it fails to parse (other than a JSON syntax error, which is a
    `RequestValidationError`) with a bare 400 raised *from* the parse error; nothing else the
    app raises is a 400 with a cause, which is how that case is told apart from the rest.
    """
    cause = exc.__cause__
    if exc.status_code != 400 or cause is None:
        return None
    return unreadable(cause) or "could not be read as JSON"


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    @app.exception_handler(SignatureError)
    async def _signature(_request: Request, exc: SignatureError) -> JSONResponse:
        return JSONResponse({"error": "invalid_signature", "reason": str(exc)}, status_code=401)

    @app.exception_handler(ValidationFailed)
    async def _invalid(_request: Request, exc: ValidationFailed) -> JSONResponse:
        return JSONResponse(
            {"error": "invalid_request", "problems": _problems(exc)}, status_code=400
        )

    @app.exception_handler(NotFound)
    async def _missing(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"error": "not_found", "reason": str(exc)}, status_code=404)

    @app.exception_handler(RequestValidationError)
    async def _request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in err.get("loc", ())), "reason": err.get("msg", "")}
            for err in exc.errors()
        ]
        return JSONResponse({"error": "invalid_request", "problems": problems}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if isinstance(exc.__cause__, BodyTooLarge):  # a streamed body past its cap (BodyLimit)
            return JSONResponse(too_large_answer(exc.__cause__.limit), status_code=413)
        # A body that cannot be parsed is invalid input like a JSON syntax error: the same 422
        # naming the body, which every route with a body documents (FastAPI's 400 is not).
        reason = body_parse_failure(exc)
        if reason is None:
            return await http_exception_handler(request, exc)
        problems = [{"field": "body", "reason": reason}]
        return JSONResponse({"error": "invalid_request", "problems": problems}, status_code=422)
