"""The `conversation_initiation_client_data` of one dial, decrypted only here.

Layers, lowest first: the agent's declared defaults, the campaign's default variables, the
context carried from the person's last call, the contact's variables, this call's variables;
the persona picked by the call, else the contact, else the campaign; then the contact's and the
call's overrides. Everything was validated when it was stored; it is checked again here because
the configuration may have changed since (a persona removed, an override no longer allowed), and
the provider fails a call that breaks its rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.deps import Deps
from orchestrator.domain.campaign_policy import CampaignPolicy
from orchestrator.domain.initiation import compose_initiation
from orchestrator.domain.persona import persona_problem, pick_persona
from orchestrator.domain.text import text_problems
from orchestrator.errors import InitiationRefused, ValidationFailed
from orchestrator.lifecycle import context_variables, recall
from orchestrator.store.models import Attempt, Campaign, Contact, ContactContext


@dataclass(frozen=True)
class Recalled:
    """The context carried from the person's last call, as read (None: there is none)."""

    context: ContactContext | None


async def initiation_for(
    deps: Deps,
    attempt: Attempt,
    contact: Contact,
    campaign: Campaign,
    policy: CampaignPolicy,
    *,
    recalled: Recalled | None = None,
) -> dict[str, Any]:
    """Every layer of this call, merged and checked, as the provider wants it.

    Args:
        deps: The process's clients.
        attempt: The attempt being dialled.
        contact: Its contact.
        campaign: Its campaign.
        policy: The campaign's policy.
        recalled: The person's context, when the caller read it already (saves a read).

    Raises:
        SecretsUnavailable: a `secret__` value cannot be decrypted with the configured keys, or
            (`InitiationRefused`) the call breaks a rule of the current configuration.
    """
    settings = deps.settings
    call = attempt.call_data or {}
    context: dict[str, Any] = {}
    if settings.context.enabled:
        if recalled is None:
            # A pure read: never take SQLite's single write connection for it.
            async with deps.db.quick() as s:
                recalled = Recalled(await recall(s, contact.external_id))
        context = context_variables(recalled.context, settings.context)
    name = pick_persona(call.get("persona"), contact.persona, policy.persona)
    reason = persona_problem(name, settings.personas, campaign.agent_id, policy.allowed_overrides)
    if reason:
        raise InitiationRefused(f"persona: {reason}")
    try:
        data = compose_initiation(
            agent=settings.agent(campaign.agent_id),
            user_id=contact.external_id,
            campaign_defaults=policy.default_variables,
            context=context,
            contact=deps.box.open(contact.variables),
            call=deps.box.open(call.get("variables") or {}),
            persona=settings.personas[name] if name else None,
            overrides=[contact.overrides or {}, call.get("overrides") or {}],
            allowed_overrides=policy.allowed_overrides,
            encode_objects=policy.encode_objects,
        )
    except ValidationFailed as exc:
        raise InitiationRefused(str(exc)) from None
    # Stored before the text rule existed (the user id, overrides): refused here, never sent.
    bad_text = text_problems(data, "conversation_initiation_client_data")
    if bad_text:
        raise InitiationRefused(str(ValidationFailed(bad_text)))
    return data
