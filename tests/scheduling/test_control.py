"""Pause, resume and cancel: what each changes, idempotence, and the CLI commands."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from orchestrator.errors import ValidationFailed
from orchestrator.main import app
from orchestrator.scheduling.control import (
    cancel_campaign,
    pause_campaign,
    resume_campaign,
    sweep_canceled,
)
from orchestrator.scheduling.dispatcher import dispatch_once
from orchestrator.store.engine import Database
from orchestrator.store.migrate import upgrade
from orchestrator.store.models import Attempt, Campaign, Contact
from tests.scheduling.conftest import DepsFactory
from tests.support.factories import make_campaign, make_contact


async def states(db: Database) -> dict[str, str]:
    async with db.session() as s:
        rows = (await s.exec(select(Contact.external_id, Attempt.state).join(Attempt))).all()
    return dict(rows)


async def dispositions(db: Database) -> dict[str, str]:
    async with db.session() as s:
        return dict((await s.exec(select(Contact.external_id, Contact.disposition))).all())


async def test_pause_holds_queued_attempts_and_stops_dispatch(
    db: Database, make_deps: DepsFactory
) -> None:
    campaign = await make_campaign(db)
    await make_contact(db, campaign, "a", "+12127360001", attempt_state="queued")
    await make_contact(db, campaign, "b", "+12127360002", timezone="America/New_York")
    await make_contact(db, campaign, "c", "+12127360003", attempt_state="initiated")
    assert await pause_campaign(db, campaign) == 2
    assert campaign.status == "paused"
    assert await states(db) == {"a": "scheduled", "b": "scheduled", "c": "initiated"}
    assert await dispatch_once(make_deps()) == 0
    # Pausing twice changes nothing more.
    assert await pause_campaign(db, campaign) == 0


async def test_resume_lets_the_dispatcher_claim_again(db: Database, make_deps: DepsFactory) -> None:
    campaign = await make_campaign(db, status="paused")
    await make_contact(db, campaign, "a", "+12127360001", timezone="America/New_York")
    assert await resume_campaign(db, campaign) == 1
    assert campaign.status == "active"
    assert await dispatch_once(make_deps()) == 1
    assert await resume_campaign(db, campaign) == 0


async def test_cancel_stops_scheduled_and_queued_but_lets_live_calls_end(
    db: Database,
) -> None:
    campaign = await make_campaign(db)
    other = await make_campaign(db, "other")
    await make_contact(db, campaign, "a", "+12127360001", attempt_state="queued")
    await make_contact(db, campaign, "b", "+12127360002")
    await make_contact(db, campaign, "c", "+12127360003", attempt_state="in_progress")
    await make_contact(db, other, "z", "+12127360009")
    async with db.session() as s:
        contact_c = (await s.exec(select(Contact).where(Contact.external_id == "c"))).one()
        contact_c.disposition = "in_progress"
    assert await cancel_campaign(db, campaign) == 2
    assert await states(db) == {
        "a": "canceled",
        "b": "canceled",
        "c": "in_progress",
        "z": "scheduled",
    }
    assert await dispositions(db) == {
        "a": "canceled",
        "b": "canceled",
        "c": "in_progress",
        "z": "pending",
    }
    assert await cancel_campaign(db, campaign) == 0


async def test_a_canceled_campaign_cannot_be_paused_or_resumed(db: Database) -> None:
    campaign = await make_campaign(db, status="canceled")
    with pytest.raises(ValidationFailed, match="canceled"):
        await resume_campaign(db, campaign)
    with pytest.raises(ValidationFailed, match="canceled"):
        await pause_campaign(db, campaign)


async def test_sweep_cancels_what_came_back_after_the_cancel(db: Database) -> None:
    campaign = await make_campaign(db, status="canceled")
    # A refused dial put this attempt back to scheduled after the cancel ran; its contact was
    # left in progress by the claim.
    await make_contact(db, campaign, "a", "+12127360001", disposition="in_progress")
    assert await sweep_canceled(db) == 1
    assert await states(db) == {"a": "canceled"}
    assert await dispositions(db) == {"a": "canceled"}


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in ("DATABASE_URL", "REDIS_URL", "ELEVENLABS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    (tmp_path / "orchestrator.toml").write_text("")
    asyncio.run(upgrade(url))

    async def seed() -> None:
        db = Database(url)
        try:
            campaign = await make_campaign(db, "spring")
            await make_contact(db, campaign, "a", "+12127360001", attempt_state="queued")
            await make_contact(db, campaign, "b", "+12127360002")
        finally:
            await db.dispose()

    asyncio.run(seed())
    return {"ORCH_DATABASE_URL": url, "ORCH_CONFIG": str(tmp_path / "orchestrator.toml")}


def test_cli_pause_resume_cancel(cli_db: dict[str, str]) -> None:
    runner = CliRunner()
    paused = runner.invoke(app, ["campaigns", "pause", "spring"], env=cli_db)
    assert paused.exit_code == 0, paused.output
    assert "paused: 2 pending attempts on hold" in paused.output
    resumed = runner.invoke(app, ["campaigns", "resume", "spring"], env=cli_db)
    assert resumed.exit_code == 0 and "active: 2 pending attempts resume" in resumed.output
    canceled = runner.invoke(app, ["campaigns", "cancel", "spring"], env=cli_db)
    assert canceled.exit_code == 0 and "canceled: 2 attempts canceled" in canceled.output
    again = runner.invoke(app, ["campaigns", "resume", "spring"], env=cli_db)
    assert again.exit_code == 1
    assert "cannot be resumed" in again.output


def test_cli_unknown_campaign_is_a_clear_error(cli_db: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["campaigns", "cancel", "nope"], env=cli_db)
    assert result.exit_code == 1
    assert "unknown campaign: nope" in result.output
    assert "Traceback" not in result.output


async def test_status_is_read_back_from_the_database(db: Database) -> None:
    campaign = await make_campaign(db)
    stale = Campaign(id=campaign.id, name=campaign.name, agent_id="a", phone_number_id="p")
    await cancel_campaign(db, campaign)
    # A stale object learns the real status rather than overwriting it.
    with pytest.raises(ValidationFailed):
        await pause_campaign(db, stale)
    assert stale.status == "canceled"
