"""How many dial jobs the dispatcher may hand arq now: what can take a slot soon, in every scope.

Redis holds only what is about to run. A dial job for a campaign already at its `max_concurrency`
cannot start, and in one shared queue it would take the place of a job that could (say, of a
campaign whose window has just opened). So each limiter scope gets its own room:

    room(scope) = limit + headroom − live leases − attempts queued for it

read in one pipelined round trip of ZCOUNTs over the live leases, and one grouped count of
queued attempts in the database:

- account: the plan's limit less the inbound reserve (the burst ceiling when a campaign may
  burst); headroom max(10, limit) (`headroom`). Campaigns that never burst share the room
  under the plan's limit only: above it their jobs could only wait.
- campaign (`max_concurrency`) and agent (`agent_concurrency_limit`, shared by the agent's
  campaigns that declare it; the smallest declared limit counts): headroom = the limit.
- phone number (one live call): checked per attempt while claiming (`free_numbers`); an attempt
  whose number is on another live call is not claimed but moved `NUMBER_BUSY_DELAY_SECS` on.

The headroom is the waiting room: jobs already queued and ready take a freed slot the moment it
frees (woken by the release), without waiting for a dispatcher pass. An attempt counted as queued
may also hold its leases for the few milliseconds between taking them and its claim; counting it
twice then only delays a dispatch by a pass, never lets one exceed a limit (the Lua acquisition
is what enforces the limits; this only decides what is worth queuing).

Why counts rather than a queue per campaign: arq's worker serves one queue, so per-campaign
queues would need a poller of our own over a changing set of queues, and a job waiting in its
campaign's queue would still contend for the account's slots — the fairness between campaigns
would move from the dispatcher (smooth weighted round robin, `fairness`) into every worker. With
counts there is still one queue, one job id per claim, and the same recovery of jobs lost with a
dead worker (`requeue_stale`), for one extra pipelined read per pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import col, select

from orchestrator import keys
from orchestrator.deps import Deps
from orchestrator.domain.attempt import AttemptState
from orchestrator.domain.campaign_policy import CampaignPolicy
from orchestrator.limiter.scopes import account_scope, burst_cap, number_scope
from orchestrator.limiter.slots import Scope
from orchestrator.scheduling.fairness import Pool
from orchestrator.settings import Settings
from orchestrator.store.models import Attempt


@dataclass(frozen=True)
class Capacity:
    """Room for this pass: in all (the account's, at most a batch) and per shared limit."""

    room: int
    pools: list[Pool]


def headroom(settings: Settings) -> int:
    """Dial jobs kept waiting beyond the account's free capacity, ready for the next freed slot.

    A job needs a moment to get ready (its checks and initiation data) before it waits for a
    slot; as many as the account's limit keeps one ready for each call that may end meanwhile.
    More would only add load: every waiting job retries its acquisition now and then.
    """
    return max(10, settings.account_limit)


def scope_headroom(limit: int) -> int:
    """Jobs kept waiting for a campaign's or an agent's slots: one for each call it may end."""
    return limit


async def capacity(deps: Deps, campaigns: Mapping[int, tuple[str, CampaignPolicy]]) -> Capacity:
    """The room of this pass for `campaigns` (campaign id → its agent id and policy)."""
    settings = deps.settings
    bursting = any(policy.burst.mode != "off" for _, policy in campaigns.values())
    ceiling = burst_cap(settings) if bursting else settings.account_limit
    own: dict[int, Scope] = {
        c: Scope(keys.SCOPE_CAMPAIGN, c, policy.max_concurrency)
        for c, (_, policy) in campaigns.items()
        if policy.max_concurrency
    }
    agent_limits: dict[str, int] = {}
    agent_members: dict[str, set[int]] = {}
    for c, (agent, policy) in campaigns.items():
        if policy.agent_concurrency_limit:
            limit = policy.agent_concurrency_limit
            agent_limits[agent] = min(agent_limits.get(agent, limit), limit)
            agent_members.setdefault(agent, set()).add(c)
    agents = {a: Scope(keys.SCOPE_AGENT, a, limit) for a, limit in agent_limits.items()}
    scopes = [account_scope(settings), *own.values(), *agents.values()]
    live = dict(
        zip(
            (s.key for s in scopes),
            await deps.limiter.occupancy(scopes, now=deps.clock()),
            strict=True,
        )
    )
    queued = await _queued_by_campaign(deps)
    account_live, all_queued = live[scopes[0].key], sum(queued.values())
    room = ceiling + headroom(settings) - account_live - all_queued
    pools = [Pool(_room(scope, live, queued.get(c, 0)), frozenset({c})) for c, scope in own.items()]
    steady = frozenset(c for c, (_, policy) in campaigns.items() if policy.burst.mode == "off")
    if bursting and steady:
        plan = settings.account_limit + headroom(settings) - account_live - all_queued
        pools.append(Pool(plan, steady))
    for agent, scope in agents.items():
        members = agent_members[agent]
        waiting = sum(queued.get(c, 0) for c in members)
        pools.append(Pool(_room(scope, live, waiting), frozenset(members)))
    return Capacity(room=min(room, settings.dispatch_batch), pools=pools)


def _room(scope: Scope, live: Mapping[str, int], queued: int) -> int:
    return scope.limit + scope_headroom(scope.limit) - live[scope.key] - queued


async def _queued_by_campaign(deps: Deps) -> dict[int, int]:
    """Attempts queued (a dial job in arq, not yet dialing), per campaign, active or not."""
    async with deps.db.read() as s:
        rows = (
            await s.exec(
                select(Attempt.campaign_id, func.count())
                .where(Attempt.state == AttemptState.QUEUED)
                .group_by(col(Attempt.campaign_id))
            )
        ).all()
    return {campaign_id: int(n) for campaign_id, n in rows}


async def free_numbers(
    deps: Deps, candidates: Sequence[tuple[int, str]], share: int, taken: set[str]
) -> tuple[list[int], list[int]]:
    """Up to `share` of `candidates` (attempt id, number) whose number can take its slot.

    Reads every number's live lease in one round trip. A number held by another attempt's live
    call is busy; one already picked in this pass (`taken`, updated) waits for the next pass.

    Returns:
        The attempts to claim, and those whose number is busy (move them on).
    """
    phones = list(dict.fromkeys(phone for _, phone in candidates))
    held = await deps.limiter.holders_of([number_scope(p) for p in phones], now=deps.clock())
    holders = dict(zip(phones, held, strict=True))
    ready: list[int] = []
    busy: list[int] = []
    for attempt_id, phone in candidates:
        if len(ready) >= share:
            break
        if holders[phone] - {str(attempt_id)}:
            busy.append(attempt_id)
        elif phone not in taken:
            taken.add(phone)
            ready.append(attempt_id)
    return ready, busy
