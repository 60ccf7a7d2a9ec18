"""The answer for one caller: the same builder and rules as an outbound dial.

Layers mirror `dialing/payload.py` (no per-call layer: nobody scheduled this call): the agent's
declared defaults, the campaign's default variables, the context of the person's last call, the
contact's variables; the persona picked by the contact, else the campaign; the contact's
overrides. `compose_initiation` checks them exactly as it checks a dial.

Inbound must always answer, so where a dial would be refused (a persona removed since intake, a
declared variable without value) the answer degrades instead: without the persona and overrides,
then the unknown caller's answer. Declared variables without a default get a neutral filler
(`personalization_unknown_value`, 0, false), because the provider aborts a conversation that
lacks any variable the agent defines.
"""

from __future__ import annotations

from typing import Any

import structlog

from orchestrator.domain.campaign_policy import CampaignPolicy
from orchestrator.domain.initiation import compose_initiation
from orchestrator.domain.overrides import kinds_of
from orchestrator.domain.persona import Persona, persona_problem, pick_persona
from orchestrator.domain.variables import AgentConfig, Primitive
from orchestrator.errors import SecretsUnavailable, ValidationFailed
from orchestrator.lifecycle import context_variables
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store.models import Campaign, Contact, ContactContext

log = structlog.get_logger(__name__)


def fillers(agent: AgentConfig, settings: Settings) -> dict[str, Primitive]:
    """A neutral value for each declared variable that has no default (the lowest layer)."""
    neutral: dict[str, Primitive] = {
        "string": settings.personalization_unknown_value,
        "number": 0,
        "integer": 0,
        "boolean": False,
    }
    return {
        name: neutral[declared.type]
        for name, declared in agent.variables.items()
        if declared.default is None
    }


def _context_layer(
    settings: Settings, agent: AgentConfig, context: ContactContext | None
) -> dict[str, Primitive]:
    """The last call's summary, date, outcome (and campaign, when the agent declares it)."""
    layer = context_variables(context, settings.context)
    name = settings.personalization_campaign_variable
    if settings.context.enabled and name in agent.variables:
        campaign = context.campaign_name if context is not None else None
        layer[name] = campaign or settings.context.missing
    return layer


def unknown_persona(settings: Settings, agent_id: str) -> Persona | None:
    """The configured unknown-caller persona, when it belongs to `agent_id`."""
    persona = settings.personas.get(settings.personalization_unknown_persona)
    return persona if persona is not None and persona.agent_id == agent_id else None


def unknown_answer(settings: Settings, agent_id: str) -> dict[str, Any]:
    """What a caller we do not know gets: the agent's defaults and the unknown-caller persona.

    Its overrides are checked against the agent's declared `allowed_overrides`; an agent that
    declares none trusts the persona (it exists for this purpose; enable its fields on the
    provider's side). Never raises: a persona that breaks the rules is dropped and logged.
    """
    agent = settings.agent(agent_id)
    defaults = fillers(agent, settings)
    context = _context_layer(settings, agent, None)
    persona = unknown_persona(settings, agent_id)
    if persona is not None:
        allowed = agent.allowed_overrides or sorted(kinds_of(persona.overrides()))
        try:
            return compose_initiation(
                agent=agent,
                user_id=None,
                campaign_defaults=defaults,
                context=context,
                persona=persona,
                allowed_overrides=allowed,
            )
        except ValidationFailed as exc:
            log.warning(
                "personalization.unknown_persona_refused", agent_id=agent_id, reason=str(exc)
            )
    return compose_initiation(
        agent=agent, user_id=None, campaign_defaults=defaults, context=context
    )


def contact_answer(
    settings: Settings,
    box: SecretBox,
    contact: Contact,
    campaign: Campaign,
    policy: CampaignPolicy,
    context: ContactContext | None,
) -> dict[str, Any]:
    """The answer for a known caller (`secret__` values in clear: seal before storing).

    Degrades rather than fails: without persona and overrides when those break the rules, and
    to the unknown caller's answer when even the variables do (or a secret cannot be opened).
    """
    agent = settings.agent(campaign.agent_id)
    try:
        opened = box.open(contact.variables)
    except SecretsUnavailable as exc:
        log.warning("personalization.secret_unavailable", contact_id=contact.id, reason=str(exc))
        return unknown_answer(settings, campaign.agent_id)
    name = pick_persona(contact.persona, policy.persona)

    def compose(*, with_overrides: bool) -> dict[str, Any]:
        return compose_initiation(
            agent=agent,
            user_id=contact.external_id,
            campaign_defaults={**fillers(agent, settings), **policy.default_variables},
            context=_context_layer(settings, agent, context),
            contact=opened,
            persona=settings.personas[name] if name and with_overrides else None,
            overrides=[contact.overrides or {}] if with_overrides else (),
            allowed_overrides=policy.allowed_overrides,
            encode_objects=policy.encode_objects,
        )

    reason = persona_problem(name, settings.personas, campaign.agent_id, policy.allowed_overrides)
    if not reason:
        try:
            return compose(with_overrides=True)
        except ValidationFailed as exc:
            reason = str(exc)
    log.warning("personalization.overrides_dropped", contact_id=contact.id, reason=reason)
    try:
        return compose(with_overrides=False)
    except ValidationFailed as exc:
        log.warning("personalization.contact_refused", contact_id=contact.id, reason=str(exc))
        return unknown_answer(settings, campaign.agent_id)
