"""A small campaign whose every figure is known, built through the ORM (triggers included)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Campaign, Outcome
from tests.support.factories import make_campaign, make_contact

T0 = datetime(2025, 3, 4, 14, 0, tzinfo=UTC)

#: (state, call_successful, seconds, credits, fiat, burst, local hour, data, evaluation,
#: disposition)
CALLS: list[tuple[Any, ...]] = [
    (
        "completed",
        "success",
        60.0,
        400.0,
        None,
        False,
        9,
        {"interest": "high", "budget": 100, "opt_out": False},
        {"greeting": "success"},
        ("reached", "success"),
    ),
    (
        "completed",
        "success",
        120.0,
        1600.0,
        None,
        True,
        9,
        {"interest": "high", "budget": 300},
        {"greeting": "success"},
        ("reached", "success"),
    ),
    (
        "completed",
        "failure",
        30.0,
        200.0,
        0.05,
        False,
        10,
        {"interest": "low", "opt_out": True},
        {"greeting": "failure"},
        ("do_not_call", None),
    ),
    ("voicemail", None, 20.0, 100.0, None, False, 10, {}, {}, ("voicemail", None)),
    ("no_answer", None, None, None, None, False, 11, {}, {}, ("unreachable", "no_answer")),
    ("busy", None, None, None, None, False, None, {}, {}, ("unreachable", "busy")),
]


@dataclass
class Known:
    """The campaign and its rows."""

    campaign: Campaign
    attempts: list[Attempt]


async def seed(db: Database, name: str = "spring", start: datetime = T0) -> Known:
    """Six contacts, one dial each (see CALLS), plus one contact never dialled."""
    campaign = await make_campaign(db, name)
    attempts = []
    for i, (state, ok, secs, credits, fiat, burst, hour, data, ev, dispo) in enumerate(CALLS):
        _contact, attempt = await make_contact(
            db,
            campaign,
            f"{name}-{i}",
            f"+1415555{i:04d}",
            attempt_state=state,
            disposition=dispo[0],
            disposition_detail=dispo[1],
            attempts_made=1,
            last_summary=f"summary {i}",
        )
        assert attempt is not None and attempt.id is not None and campaign.id is not None
        started = start + timedelta(minutes=i)
        async with db.session() as s:
            row = await s.get(Attempt, attempt.id)
            assert row is not None
            row.dial_started_at = started
            row.ended_at = started + timedelta(seconds=secs or 15)
            row.local_hour = hour
            row.is_burst = burst
            s.add(
                Outcome(
                    attempt_id=attempt.id,
                    campaign_id=campaign.id,
                    state=state,
                    call_successful=ok,
                    duration_secs=secs,
                    cost_credits=credits,
                    cost_fiat=fiat,
                    is_burst=burst,
                    transferred=i == 1,
                    opted_out=dispo[0] == "do_not_call",
                    data_collection=data,
                    evaluation=ev,
                    transcript_summary=f"summary {i}",
                )
            )
            attempts.append(row)
    await make_contact(db, campaign, f"{name}-new", "+14155559999", attempt_state="scheduled")
    return Known(campaign, attempts)


@pytest.fixture
async def known(db: Database) -> Known:
    """The known campaign in the test database."""
    return await seed(db)
