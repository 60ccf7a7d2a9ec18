"""The only place our exceptions become HTTP answers: JSON with the field and the reason."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from orchestrator.errors import NotFound, SignatureError, ValidationFailed


def _problems(exc: ValidationFailed) -> list[dict[str, str]]:
    return [{"field": field, "reason": reason} for field, reason in exc.problems]


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
