"""No single record stalls dialing: a dial that fails the same way N times is parked with its
reason, its slots free, while the campaign's other attempts are dialled; failures before the POST
are definite (nothing was sent), never left for the reconciler to loop on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import col

from orchestrator.deps import Deps
from orchestrator.dialing.dial import DialResultKind, dial_attempt
from orchestrator.dialing.reconcile import reconcile_unknown
from orchestrator.dialing.send import Loaded, post_and_record
from orchestrator.limiter.scopes import scopes_for
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Campaign, Contact
from orchestrator.tracking.poller import poll_stale
from tests.dialing.conftest import StackFactory, sandbox_dials
from tests.support.factories import make_campaign, make_contact

#: A stored variable value no intake accepts now (JSON "\ud83d"): planted as old data would be.
POISON = {"customer_name": "\ud83d"}
#: Park after three failures of one kind, retried at once (no waiting in tests).
PARKING = {"park_after_failures": 3, "park_retry_secs": 0.0}


async def _attempt(db: Database, attempt_id: int) -> Attempt:
    async with db.session() as s:
        row = await s.get(Attempt, attempt_id)
        assert row is not None
        return row


async def _contact(db: Database, contact_id: int) -> Contact:
    async with db.session() as s:
        row = await s.get(Contact, contact_id)
        assert row is not None
        return row


async def _set(db: Database, attempt_id: int, **values: Any) -> None:
    async with db.session() as s:
        await s.exec(update(Attempt).where(col(Attempt.id) == attempt_id).values(**values))


async def _held(deps: Deps, campaign: Campaign, attempt: Attempt) -> list[str]:
    """Every slot scope the attempt could hold, with the members holding it."""
    scopes = scopes_for(deps.settings, campaign, attempt.phone_number).all
    held: list[str] = []
    for scope in scopes:
        held += await deps.limiter.holders(scope, now=deps.clock())
    return held


async def _dial_until_parked(deps: Deps, db: Database, attempt_id: int, tries: int) -> list[str]:
    """Dial the attempt `tries` times, as the dispatcher would re-queue it; the states seen."""
    seen = []
    for _ in range(tries):
        await _set(db, attempt_id, state="queued")
        await dial_attempt(deps, attempt_id)
        seen.append((await _attempt(db, attempt_id)).state)
    return seen


async def test_a_poison_contact_is_parked_and_the_rest_are_dialled(
    db: Database, stack: StackFactory
) -> None:
    campaign = await make_campaign(db)
    poison_contact, poison = await make_contact(
        db, campaign, "crm-poison", "+14155550101", attempt_state="queued", variables=POISON
    )
    _, good = await make_contact(db, campaign, "crm-good", "+14155550102", attempt_state="queued")
    assert poison and good and poison.id and good.id
    async with stack(settings_update=PARKING) as (deps, sb):
        states = await _dial_until_parked(deps, db, poison.id, 3)
        await dial_attempt(deps, good.id)
        held = await _held(deps, campaign, poison)
        dials = await sandbox_dials(sb)
    assert states == ["scheduled", "scheduled", "parked"]
    parked = await _attempt(db, poison.id)
    assert parked.error is not None
    assert "dynamic_variables.customer_name" in parked.error and "surrogate" in parked.error
    assert parked.dial_failures == 3
    assert str(poison.id) not in held
    # Nothing was ever sent for it, and nothing counts against the contact's cap.
    assert [d["user_id"] for d in dials] == ["crm-good"]
    assert (await _attempt(db, good.id)).state == "initiated"
    contact = await _contact(db, poison_contact.id or 0)
    assert (contact.disposition, contact.attempts_made) == ("parked", 0)


async def test_a_request_that_cannot_be_encoded_is_a_definite_failure_not_unknown(
    db: Database, stack: StackFactory
) -> None:
    # Claimed (`dialing`, slots held), then a body the JSON encoder refuses: nothing was sent,
    # so it must not be left `dialing` (or `unknown`) for the reconciler to loop on.
    campaign = await make_campaign(db)
    contact, attempt = await make_contact(db, campaign, attempt_state="dialing")
    assert attempt is not None and attempt.id is not None
    async with db.session() as s:
        await s.exec(update(Contact).where(col(Contact.id) == contact.id).values(attempts_made=1))
    initiation = {"dynamic_variables": {"note": "\ud83d", "ratio": float("nan")}}
    async with stack(settings_update=PARKING) as (deps, sb):
        scopes = scopes_for(deps.settings, campaign, attempt.phone_number)
        got = await deps.limiter.acquire(
            attempt.id,
            scopes.account,
            scopes.others,
            account_cap=scopes.account_cap,
            now=deps.clock(),
            lease_secs=60,
        )
        assert got.ok
        loaded = Loaded(attempt, contact, campaign)
        assert await post_and_record(deps, loaded, initiation, scopes) is DialResultKind.REQUEUED
        held = await _held(deps, campaign, attempt)
        dials = await sandbox_dials(sb)
    row = await _attempt(db, attempt.id)
    assert (row.state, row.dial_failures) == ("scheduled", 1)
    assert row.error is not None and "could not be encoded" in row.error
    assert held == [] and dials == []
    assert (await _contact(db, contact.id or 0)).attempts_made == 0


async def test_a_crash_before_the_claim_is_counted_and_parks(
    db: Database, stack: StackFactory
) -> None:
    # A stored policy that no longer validates: every dial of the campaign fails before its claim.
    campaign = await make_campaign(db, config={"calling_hours": {"start": "25:00"}})
    _, attempt = await make_contact(db, campaign, attempt_state="queued")
    assert attempt is not None and attempt.id is not None
    async with stack(settings_update=PARKING) as (deps, _sb):
        states = await _dial_until_parked(deps, db, attempt.id, 3)
    assert states == ["scheduled", "scheduled", "parked"]
    assert "ValidationError" in ((await _attempt(db, attempt.id)).error or "")


async def test_failures_of_another_kind_start_the_count_again(
    db: Database, stack: StackFactory
) -> None:
    campaign = await make_campaign(db)
    contact, attempt = await make_contact(db, campaign, attempt_state="queued", variables=POISON)
    assert attempt is not None and attempt.id is not None
    async with stack(settings_update=PARKING) as (deps, _sb):
        assert await _dial_until_parked(deps, db, attempt.id, 2) == ["scheduled"] * 2
        # Fixed, but now the campaign's stored policy no longer validates: another failure.
        async with db.session() as s:
            await s.exec(update(Contact).where(col(Contact.id) == contact.id).values(variables={}))
            await s.exec(
                update(Campaign)
                .where(col(Campaign.id) == campaign.id)
                .values(config={"calling_hours": {"start": "25:00"}})
            )
        assert await _dial_until_parked(deps, db, attempt.id, 1) == ["scheduled"]
    assert (await _attempt(db, attempt.id)).dial_failures == 1


async def test_a_dial_left_dialing_again_and_again_is_parked_by_the_reconciler(
    db: Database, stack: StackFactory
) -> None:
    # A worker that dies between its claim and its POST, every time (the record kills it).
    campaign = await make_campaign(db)
    _, attempt = await make_contact(db, campaign, attempt_state="queued")
    assert attempt is not None and attempt.id is not None
    update_ = {**PARKING, "unknown_grace_secs": 0.001}
    async with stack(settings_update=update_) as (deps, sb):
        states = []
        for _ in range(3):
            await _set(
                db, attempt.id, state="dialing", dial_started_at=deps.now().replace(year=2020)
            )
            assert (await reconcile_unknown(deps)).resolved == 1
            states.append((await _attempt(db, attempt.id)).state)
        dials = await sandbox_dials(sb)
    assert states == ["scheduled", "scheduled", "parked"]
    assert dials == []
    assert "no call found" in ((await _attempt(db, attempt.id)).error or "")


async def test_one_attempt_the_poller_cannot_ask_about_never_stops_the_others(
    db: Database, stack: StackFactory
) -> None:
    # A stored conversation id the HTTP client refuses to put in a URL (a NUL): asking about it
    # raised out of the whole polling pass, so no other live call was ever polled again.
    campaign = await make_campaign(db)
    _, good = await make_contact(db, campaign, "crm-good", "+14155550102", attempt_state="queued")
    _, bad = await make_contact(db, campaign, "crm-bad", "+14155550103", attempt_state="initiated")
    assert good and bad and good.id and bad.id
    async with stack() as (deps, _sb):
        assert await dial_attempt(deps, good.id) is DialResultKind.INITIATED
        stale = deps.now().replace(year=2020)
        await _set(db, bad.id, conversation_id="conv_\x00", last_news_at=stale)
        await _set(db, good.id, last_news_at=stale)
        assert await poll_stale(deps) == 2
    assert (await _attempt(db, good.id)).last_news_at != stale
