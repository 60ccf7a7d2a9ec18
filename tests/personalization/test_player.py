"""`sandbox inbound`: calls played against the webhook, judged as the provider would."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.dev.player import missing_variables, play
from orchestrator.main import app as cli
from orchestrator.personalization.request import SANDBOX_PERSONALIZATION_SECRET
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.web.app import create_app
from orchestrator.web.routes.personalization import PATH
from tests.conftest import AGENT
from tests.support.factories import make_campaign, make_contact
from tests.support.ports import free_port
from tests.support.servers import serve

KNOWN = "+14155550123"


def test_missing_variables_are_named() -> None:
    answer = {"dynamic_variables": {"a": 1}}
    assert missing_variables(answer, ["a", "b"]) == ["b"]
    assert missing_variables(None, ["a"]) == ["a"]


@pytest.mark.parametrize(("secret", "errors"), [(SANDBOX_PERSONALIZATION_SECRET, 0), ("bad", 8)])
async def test_played_calls_are_judged(
    settings: Settings, db: Database, redis_server: str, secret: str, errors: int
) -> None:
    resolved = settings.model_copy(update={"redis_url": redis_server})
    campaign = await make_campaign(db)
    await make_contact(db, campaign, "crm-1", KNOWN, attempt_state=None)
    async with serve(create_app(resolved)) as url:
        result = await play(
            url + PATH,
            agent_id=AGENT,
            called_number="+14155550100",
            callers=[KNOWN],
            declared=list(resolved.agent(AGENT).variables),
            headers={resolved.personalization_header: secret},
            rate=40,
            duration=0.2,
            unknown_share=0.5,
        )
    assert result.calls == 8
    assert result.errors == errors
    assert result.shape_failures == 0


async def test_an_answer_lacking_a_declared_variable_is_a_shape_failure(
    settings: Settings, db: Database, redis_server: str
) -> None:
    resolved = settings.model_copy(update={"redis_url": redis_server})
    async with serve(create_app(resolved)) as url:
        result = await play(
            url + PATH,
            agent_id=AGENT,
            called_number="+14155550100",
            callers=[],
            declared=["customer_name", "not_sent_by_anyone"],
            headers={resolved.personalization_header: SANDBOX_PERSONALIZATION_SECRET},
            rate=20,
            duration=0.1,
        )
    assert result.shape_failures == result.calls == 2
    assert "not_sent_by_anyone" in result.examples[0]


def test_cli_reports_calls_that_got_no_answer(tmp_path: Path) -> None:
    env = {
        "ORCH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'none.db'}",
        "ORCH_CONFIG": str(tmp_path / "absent.toml"),
    }
    url = f"http://127.0.0.1:{free_port()}{PATH}"
    result = CliRunner().invoke(
        cli, ["sandbox", "inbound", "--url", url, "--rate", "10", "--duration", "0.2"], env=env
    )
    assert result.exit_code == 1
    assert "2 calls" in result.output
    assert "errors 2" in result.output


def test_cli_rebuild_writes_the_records(
    tmp_path: Path, redis_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "ORCH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "ORCH_REDIS_URL": redis_server,
        "ORCH_CONFIG": str(tmp_path / "absent.toml"),
    }
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    result = runner.invoke(cli, ["personalization", "rebuild"], env=env)
    assert result.exit_code == 0, result.output
    assert "0 personalization records written" in result.output
