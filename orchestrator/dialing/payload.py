"""The `conversation_initiation_client_data` of one dial, decrypted only here."""

from __future__ import annotations

from typing import Any

from orchestrator.domain.campaign_policy import CampaignPolicy
from orchestrator.domain.initiation import build_initiation_data
from orchestrator.runtime import Deps
from orchestrator.store.models import Attempt, Campaign, Contact


async def initiation_for(
    deps: Deps, attempt: Attempt, contact: Contact, campaign: Campaign, policy: CampaignPolicy
) -> dict[str, Any]:
    """Campaign defaults, the contact's values and this call's values, as the provider wants.

    Raises:
        SecretsUnavailable: a `secret__` value cannot be decrypted with the configured keys.
    """
    variables: dict[str, Any] = dict(policy.default_variables)
    variables.update(deps.box.open(contact.variables))
    variables.update(deps.box.open(attempt.call_data.get("variables") or {}))
    return build_initiation_data(
        variables=variables,
        agent=deps.settings.agent(campaign.agent_id),
        user_id=contact.external_id,
    )
