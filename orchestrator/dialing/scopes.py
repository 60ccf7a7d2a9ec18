"""Which limiter scopes one attempt's call occupies."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator import keys
from orchestrator.limiter.slots import Scope
from orchestrator.settings import PLAN_CONCURRENCY, Settings
from orchestrator.store.models import Campaign

BURST_CEILING = 300


@dataclass(frozen=True)
class CallScopes:
    """The account scope with its burst cap, and the other scopes."""

    account: Scope
    account_cap: int
    others: list[Scope]

    @property
    def all(self) -> list[Scope]:
        """Every scope, account first."""
        return [self.account, *self.others]


def burst_cap(settings: Settings) -> int:
    """The account's ceiling when bursting: min(3 × plan limit, 300), less the inbound reserve."""
    plan = settings.concurrency_limit or PLAN_CONCURRENCY.get(settings.plan.lower(), 10)
    return max(settings.account_limit, min(3 * plan, BURST_CEILING) - settings.inbound_reserve)


def scopes_for(settings: Settings, campaign: Campaign, phone_number: str) -> CallScopes:
    """Account (plan limit, burst per policy), agent and campaign (when capped), the number (1)."""
    assert campaign.id is not None
    account = Scope(keys.SCOPE_ACCOUNT, "main", settings.account_limit)
    cap = burst_cap(settings) if campaign.burst_policy == "on" else settings.account_limit
    others: list[Scope] = []
    agent_limit = campaign.config.get("agent_concurrency_limit")
    if isinstance(agent_limit, int) and agent_limit > 0:
        others.append(Scope(keys.SCOPE_AGENT, campaign.agent_id, agent_limit))
    campaign_limit = campaign.config.get("max_concurrency")
    if isinstance(campaign_limit, int) and campaign_limit > 0:
        others.append(Scope(keys.SCOPE_CAMPAIGN, campaign.id, campaign_limit))
    others.append(Scope(keys.SCOPE_NUMBER, phone_number, 1))
    return CallScopes(account=account, account_cap=cap, others=others)
