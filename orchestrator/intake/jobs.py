"""The public Redis job contract `enqueue_call`: one contact row plus its campaign.

Payload (a JSON-able dict; version 1):
    {"campaign": "spring-renewals", "external_id": "crm-42", "phone_number": "+14155550123",
     "timezone": "America/Los_Angeles", "persona": null, "variables": {"customer_name": "Ada"}}

A payload that cannot be accepted lands in the dead-letter table with the reason; nothing is
dropped silently.
"""

from __future__ import annotations

from typing import Any

from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.intake.rows import validate_row
from orchestrator.intake.upsert import upsert_batch
from orchestrator.runtime import Deps
from orchestrator.secretbox import SecretsUnavailable
from orchestrator.store import campaigns
from orchestrator.store.models import DeadLetter

SOURCE = "redis:enqueue_call"


async def dead_letter(deps: Deps, payload: Any, reason: str) -> None:
    """Keep a refused payload with its reason."""
    safe = payload if isinstance(payload, dict) else {"payload": repr(payload)[:10_000]}
    variables = safe.get("variables")
    if isinstance(variables, dict):
        safe = {
            **safe,
            "variables": {
                k: ("***" if k.startswith("secret__") else v) for k, v in variables.items()
            },
        }
    async with deps.db.session() as s:
        s.add(DeadLetter(source=SOURCE, reason=reason[:2000], payload=safe))


async def enqueue_call_payload(deps: Deps, payload: Any) -> str:
    """Validate and upsert one payload; returns the row result or `dead-lettered`."""
    if not isinstance(payload, dict):
        await dead_letter(deps, payload, "payload: expected an object")
        return "dead-lettered"
    name = payload.get("campaign")
    if not isinstance(name, str) or not name:
        await dead_letter(deps, payload, "campaign: required")
        return "dead-lettered"
    try:
        async with deps.db.session() as s:
            campaign = await campaigns.get_by_name(s, name)
        row = validate_row(
            payload,
            deps.settings.agent(campaign.agent_id),
            default_region=deps.settings.default_region,
        )
        async with deps.db.session() as s:
            result = await upsert_batch(s, campaign, [row], deps.box)
    except NotFound as exc:
        await dead_letter(deps, payload, str(exc))
        return "dead-lettered"
    except ValidationFailed as exc:
        await dead_letter(deps, payload, str(exc))
        return "dead-lettered"
    except SecretsUnavailable as exc:
        await dead_letter(deps, payload, str(exc))
        return "dead-lettered"
    return str(result[0].result)
