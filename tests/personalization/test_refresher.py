"""The refresher keeps records in step with contacts, contexts, campaigns and configuration."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy import update

from orchestrator import keys, metrics
from orchestrator.domain.variables import AgentVariable
from orchestrator.personalization import records
from orchestrator.personalization.refresher import Refresher
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Campaign, Contact, ContactContext
from tests.conftest import AGENT
from tests.support.factories import make_campaign, make_contact

KEY = SecretBox.generate_key()
PHONE = "+14155550123"


class Clock:
    """Real time until `advance()`; then past the settle delay, so rows just written are due
    (no sleeping in tests)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _refresher(settings: Settings, db: Database, redis: Redis) -> Refresher:
    clock = Clock()
    refresher = Refresher(settings, db, redis, SecretBox([KEY]), batch=2, clock=clock)
    clock.offset = 0.0
    return refresher


async def _step(refresher: Refresher) -> int:
    """One pass as a worker runs it, `later` seconds on."""
    clock = refresher.clock
    assert isinstance(clock, Clock)
    clock.offset = 60.0
    return await refresher.step()


async def _answer(redis: Redis, agent: str = AGENT, phone: str = PHONE) -> dict[str, object] | None:
    raw = await redis.get(keys.personalization_record(agent, phone))
    return None if raw is None else orjson.loads(records.decode(raw, SecretBox([KEY])))


async def _touch(db: Database, model: type, *where: object, **values: object) -> None:
    async with db.session() as s:
        await s.exec(update(model).where(*where).values(**values))  # type: ignore[call-overload]


@pytest.fixture
def later() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=5)


async def test_first_step_rebuilds_everything_and_stores_the_config_hash(
    settings: Settings, db: Database, real_redis: Redis
) -> None:
    campaign = await make_campaign(db)
    for i in range(5):
        await make_contact(db, campaign, f"crm-{i}", f"+1415555012{i}", attempt_state=None)
    refresher = _refresher(settings, db, real_redis)
    assert await refresher.step() == 5
    assert (await real_redis.get(keys.personalization_config())).decode() == refresher.config_hash
    answer = await _answer(real_redis, phone="+14155550123")
    assert answer is not None
    assert answer["user_id"] == "crm-3"


async def test_most_recently_updated_contact_of_the_agent_answers(
    settings: Settings, db: Database, real_redis: Redis, later: datetime
) -> None:
    first = await make_campaign(db, "first")
    second = await make_campaign(db, "second")
    other = await make_campaign(db, "other", agent_id="agent_other")
    await make_contact(db, first, "crm-a", PHONE, attempt_state=None)
    await make_contact(db, second, "crm-b", PHONE, attempt_state=None)
    await make_contact(db, other, "crm-c", PHONE, attempt_state=None)
    await _touch(db, Contact, Contact.external_id == "crm-a", updated_at=later)
    refresher = _refresher(settings, db, real_redis)
    await refresher.rebuild()
    assert (await _answer(real_redis))["user_id"] == "crm-a"  # type: ignore[index]
    assert (await _answer(real_redis, "agent_other"))["user_id"] == "crm-c"  # type: ignore[index]


async def test_contact_change_is_applied_by_the_next_step(
    settings: Settings, db: Database, real_redis: Redis, later: datetime
) -> None:
    campaign = await make_campaign(db)
    await make_contact(db, campaign, "crm-1", PHONE, attempt_state=None)
    refresher = _refresher(settings, db, real_redis)
    await refresher.step()
    await _touch(
        db,
        Contact,
        Contact.external_id == "crm-1",
        variables={"customer_name": "Grace"},
        updated_at=later,
    )
    assert await _step(refresher) >= 1
    assert (await _answer(real_redis))["dynamic_variables"]["customer_name"] == "Grace"  # type: ignore[index]


async def test_outcome_context_change_is_applied(
    settings: Settings, db: Database, real_redis: Redis, later: datetime
) -> None:
    campaign = await make_campaign(db, "spring")
    await make_contact(db, campaign, "crm-1", PHONE, attempt_state=None)
    refresher = _refresher(settings, db, real_redis)
    await refresher.step()
    async with db.session() as s:
        s.add(
            ContactContext(
                external_id="crm-1",
                phone_number=PHONE,
                campaign_name="spring",
                last_outcome="success",
                last_summary="Renewed.",
                updated_at=later,
            )
        )
    await _step(refresher)
    variables = (await _answer(real_redis))["dynamic_variables"]  # type: ignore[index]
    assert variables["last_call_summary"] == "Renewed."
    assert variables["last_call_outcome"] == "success"


async def test_campaign_change_is_applied(
    settings: Settings, db: Database, real_redis: Redis, later: datetime
) -> None:
    campaign = await make_campaign(db)
    await make_contact(db, campaign, "crm-1", PHONE, attempt_state=None)
    refresher = _refresher(settings, db, real_redis)
    await refresher.step()
    await _touch(
        db,
        Campaign,
        Campaign.id == campaign.id,
        config={"default_variables": {"visits": 9}},
        updated_at=later,
    )
    await _step(refresher)
    assert (await _answer(real_redis))["dynamic_variables"]["visits"] == 9  # type: ignore[index]


async def test_a_number_moved_away_leaves_no_record_behind(
    settings: Settings, db: Database, real_redis: Redis, later: datetime
) -> None:
    campaign = await make_campaign(db)
    await make_contact(db, campaign, "crm-1", PHONE, attempt_state=None)
    refresher = _refresher(settings, db, real_redis)
    await refresher.step()
    await _touch(
        db, Contact, Contact.external_id == "crm-1", phone_number="+14155550199", updated_at=later
    )
    await _step(refresher)
    assert await _answer(real_redis) is None
    assert (await _answer(real_redis, phone="+14155550199"))["user_id"] == "crm-1"  # type: ignore[index]


async def test_changes_newer_than_the_settle_delay_wait_for_the_next_pass(
    settings: Settings, db: Database, real_redis: Redis
) -> None:
    campaign = await make_campaign(db)
    now = [time.time()]
    refresher = Refresher(settings, db, real_redis, SecretBox([KEY]), clock=lambda: now[0])
    await refresher.step()
    await make_contact(db, campaign, "crm-1", PHONE, attempt_state=None)
    now[0] = time.time()  # the row is younger than the settle delay: not read yet
    assert await refresher.step() == 0
    now[0] = time.time() + 60
    assert await refresher.step() >= 1
    assert await _answer(real_redis) is not None


async def test_configuration_change_triggers_a_full_rebuild(
    settings: Settings, db: Database, real_redis: Redis
) -> None:
    campaign = await make_campaign(db)
    await make_contact(db, campaign, "crm-1", PHONE, attempt_state=None)
    await _refresher(settings, db, real_redis).step()
    agents = {AGENT: settings.agent(AGENT).model_copy(deep=True)}
    agents[AGENT].variables["plan"] = AgentVariable(type="string", default="gold")
    changed = settings.model_copy(update={"agents": agents})
    refresher = _refresher(changed, db, real_redis)
    assert await refresher.step() == 1
    assert (await _answer(real_redis))["dynamic_variables"]["plan"] == "gold"  # type: ignore[index]


async def test_rebuild_removes_orphans_and_keeps_secrets_sealed(
    settings: Settings, db: Database, real_redis: Redis
) -> None:
    campaign = await make_campaign(db)
    await make_contact(db, campaign, "crm-1", PHONE, attempt_state=None)
    sealed = SecretBox([KEY]).seal({"customer_name": "Ada", "secret__pin": "PIN_4471"})
    await _touch(db, Contact, Contact.external_id == "crm-1", variables=sealed)
    orphan = keys.personalization_record(AGENT, "+14155550777")
    await real_redis.set(orphan, b"J{}")
    await _refresher(settings, db, real_redis).rebuild()
    assert await real_redis.get(orphan) is None
    stored = await real_redis.get(keys.personalization_record(AGENT, PHONE))
    assert b"PIN_4471" not in stored
    assert (await _answer(real_redis))["dynamic_variables"]["secret__pin"] == "PIN_4471"  # type: ignore[index]


async def test_a_change_reaches_the_record_with_real_time_passes(
    settings: Settings, db: Database, real_redis: Redis
) -> None:
    """As the worker loop runs it: real clock, real settle delay, passes every 0.2 s."""
    campaign = await make_campaign(db)
    await make_contact(db, campaign, "crm-1", PHONE, attempt_state=None)
    refresher = Refresher(settings, db, real_redis, SecretBox([KEY]))
    await refresher.step()
    await _touch(
        db,
        Contact,
        Contact.external_id == "crm-1",
        variables={"customer_name": "Grace"},
        updated_at=datetime.now(UTC),
    )
    for _ in range(100):  # a bound on the wait, not a latency assertion
        await refresher.step()
        answer = await _answer(real_redis)
        if answer is not None and answer["dynamic_variables"]["customer_name"] == "Grace":  # type: ignore[index]
            break
        await asyncio.sleep(0.2)
    assert answer is not None
    assert answer["dynamic_variables"]["customer_name"] == "Grace"  # type: ignore[index]


async def test_one_poison_contact_never_stops_the_others_from_getting_their_record(
    settings: Settings, db: Database, real_redis: Redis, later: datetime
) -> None:
    # Stored before the text rule (or behind its back): a lone surrogate in an override makes
    # this contact's answer impossible to encode. Every other caller must still get theirs.
    campaign = await make_campaign(db, config={"allowed_overrides": ["first_message"]})
    phones = [f"+1415555013{i}" for i in range(4)]
    await make_contact(db, campaign, "crm-0", phones[0], attempt_state=None)
    poison, _ = await make_contact(
        db,
        campaign,
        "crm-poison",
        phones[1],
        attempt_state=None,
        overrides={"agent": {"first_message": "Hi \ud83d"}},
    )
    await make_contact(db, campaign, "crm-2", phones[2], attempt_state=None)
    refresher = _refresher(settings, db, real_redis)
    assert await refresher.step() == 2  # a full rebuild: the poison one skipped
    for i in (0, 2):
        answer = await _answer(real_redis, phone=phones[i])
        assert answer is not None and answer["user_id"] == f"crm-{i}"
    assert await _answer(real_redis, phone=phones[1]) is None
    # Changes keep flowing past it too.
    await make_contact(db, campaign, "crm-3", phones[3], attempt_state=None)
    await _touch(db, Contact, Contact.id == poison.id, updated_at=later)
    assert await _step(refresher) >= 1
    assert (await _answer(real_redis, phone=phones[3]))["user_id"] == "crm-3"  # type: ignore[index]
    # Reported each time it is met (the rebuild, then the change that touched it).
    counters = await real_redis.hgetall(metrics.COUNTERS)
    assert int(counters[b"personalization_skipped_total"]) >= 2
