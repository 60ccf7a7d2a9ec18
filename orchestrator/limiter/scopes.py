"""Which limiter scopes one attempt's call occupies, and how far the account may burst."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator import keys
from orchestrator.domain.campaign_policy import CampaignPolicy, policy_of
from orchestrator.limiter.slots import Scope
from orchestrator.settings import PLAN_CONCURRENCY, Settings
from orchestrator.store.models import Campaign

BURST_CEILING = 300
#: Delay before retrying a number that is on another live call.
NUMBER_BUSY_DELAY_SECS = 30.0


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


def account_scope(settings: Settings) -> Scope:
    """The account-wide scope (the plan's limit less the inbound reserve)."""
    return Scope(keys.SCOPE_ACCOUNT, "main", settings.account_limit)


def number_scope(phone_number: str) -> Scope:
    """The scope of one phone number: one live call at a time, across all campaigns."""
    return Scope(keys.SCOPE_NUMBER, phone_number, 1)


def scopes_for(
    settings: Settings,
    campaign: Campaign,
    phone_number: str,
    *,
    allow_burst: bool = False,
    policy: CampaignPolicy | None = None,
) -> CallScopes:
    """Account (burst only when `allow_burst`), agent and campaign (when capped), the number (1).

    Releasing uses the same scopes, and a release ignores the cap, so `allow_burst` only matters
    when acquiring.
    """
    assert campaign.id is not None
    resolved = policy or policy_of(campaign.config)
    cap = burst_cap(settings) if allow_burst else settings.account_limit
    others: list[Scope] = []
    if resolved.agent_concurrency_limit:
        others.append(Scope(keys.SCOPE_AGENT, campaign.agent_id, resolved.agent_concurrency_limit))
    if resolved.max_concurrency:
        others.append(Scope(keys.SCOPE_CAMPAIGN, campaign.id, resolved.max_concurrency))
    others.append(number_scope(phone_number))
    return CallScopes(account=account_scope(settings), account_cap=cap, others=others)


def every_scope(settings: Settings, campaign: Campaign, phone_number: str) -> list[Scope]:
    """Every scope the attempt may hold, whatever its policy says: for a release, which needs no
    limits, so a campaign whose stored policy no longer validates still frees its slots."""
    assert campaign.id is not None
    return [
        account_scope(settings),
        Scope(keys.SCOPE_AGENT, campaign.agent_id, 1),
        Scope(keys.SCOPE_CAMPAIGN, campaign.id, 1),
        Scope(keys.SCOPE_NUMBER, phone_number, 1),
    ]
