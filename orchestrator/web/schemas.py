"""Models the OpenAPI document describes although no route declares them as a parameter.

The bulk contacts route reads its body itself (each row is checked on its own, so one bad row
never refuses the others), and the Redis job contract has no route at all; their schemas are
added to `components/schemas` so `/openapi.json` describes every public shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from orchestrator.intake.campaign_spec import CampaignFields
from orchestrator.intake.schema import ContactsIn, EnqueueCallJob

DOCUMENTED: tuple[type[BaseModel], ...] = (ContactsIn, EnqueueCallJob, CampaignFields)


def install(app: FastAPI) -> None:
    """Extend `app.openapi()` with the schemas of `DOCUMENTED`."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in DOCUMENTED:
            described = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(described.pop("$defs", {}))
            components.setdefault(model.__name__, described)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
