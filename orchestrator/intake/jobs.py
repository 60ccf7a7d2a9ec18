"""The public Redis job contract `enqueue_call`: one contact row plus its campaign.

Payload (a JSON-able dict; contract version 1, `schema.EnqueueCallJob`):
    {"campaign": "spring-renewals", "external_id": "crm-42", "phone_number": "+14155550123",
     "timezone": "America/Los_Angeles", "persona": "maya", "variables": {"customer_name": "Ada"},
     "overrides": {"agent": {"language": "en"}}}

The row is the same as one row of `POST /v1/campaigns/{id}/contacts`, validated by the same
rules and applied the same way (a patch of a known contact: what it leaves out is kept). A
payload that cannot be accepted lands in the dead-letter table with the reason (each field and
why); nothing is dropped silently, and `secret__` values are masked in what is kept.
"""

from __future__ import annotations

from typing import Any

from orchestrator.deps import Deps
from orchestrator.domain.campaign_policy import policy_of
from orchestrator.domain.text import text_problems
from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.intake.kept_payload import kept_payload, storable
from orchestrator.intake.rows import RowRules, validate_row
from orchestrator.intake.upsert import upsert_batch
from orchestrator.store import campaigns
from orchestrator.store.models import DeadLetter

SOURCE = "redis:enqueue_call"
DEAD_LETTERED = "dead-lettered"


def safe_payload(payload: Any) -> dict[str, Any]:
    """What of a refused payload may be kept (`kept_payload`): bounded, `secret__` masked."""
    return kept_payload(payload)


async def dead_letter(deps: Deps, payload: Any, reason: str) -> None:
    """Keep a refused payload with its reason (text we cannot store written as escapes)."""
    async with deps.db.session() as s:
        s.add(
            DeadLetter(source=SOURCE, reason=storable(reason[:2000]), payload=safe_payload(payload))
        )


async def enqueue_call_payload(deps: Deps, payload: Any) -> str:
    """Validate and upsert one payload; returns the row result or `dead-lettered`."""
    if not isinstance(payload, dict):
        await dead_letter(deps, payload, "payload: expected an object")
        return DEAD_LETTERED
    # Any Python str arrives (arq pickles the payload): refuse what we cannot carry first.
    bad_text = text_problems(payload)
    if bad_text:
        await dead_letter(deps, payload, str(ValidationFailed(bad_text)))
        return DEAD_LETTERED
    ref = payload.get("campaign")
    if isinstance(ref, bool) or not isinstance(ref, str | int) or ref == "":
        await dead_letter(deps, payload, "campaign: required (a campaign name or id)")
        return DEAD_LETTERED
    row_fields = {k: v for k, v in payload.items() if k != "campaign"}
    try:
        async with deps.db.session() as s:
            campaign = await campaigns.get_by_ref(s, ref)
        rules = RowRules.for_campaign(deps.settings, campaign.agent_id, policy_of(campaign.config))
        row = validate_row(row_fields, rules)
        async with deps.db.session() as s:
            [result] = await upsert_batch(s, campaign, [row], deps.box)
        if result.contact_id is None:
            raise ValidationFailed(list(result.problems))
    except (NotFound, ValidationFailed) as exc:
        await dead_letter(deps, payload, str(exc))
        return DEAD_LETTERED
    return str(result.result)
