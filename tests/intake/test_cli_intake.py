"""The intake commands: campaigns, tokens, contacts import — outputs, files and clear errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from orchestrator.main import app
from orchestrator.store.engine import Database
from orchestrator.store.models import ApiToken

AGENT_TOML = """
agent_id = "agent_cli"
[agents.agent_cli.variables.customer_name]
type = "string"
[agents.agent_cli.variables.visits]
type = "integer"
default = 0
"""

PERSONAS_TOML = """
[personas.calm]
agent_id = "agent_cli"
first_message = "Hello {{customer_name}}"
voice_id = "v_calm"
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    (tmp_path / "orchestrator.toml").write_text(AGENT_TOML)
    (tmp_path / "personas.toml").write_text(PERSONAS_TOML)
    for name in ("DATABASE_URL", "REDIS_URL", "ELEVENLABS_API_KEY", "ORCH_PERSONAS_FILE"):
        monkeypatch.delenv(name, raising=False)
    values = {
        "ORCH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "ORCH_CONFIG": str(tmp_path / "orchestrator.toml"),
        "ORCH_PERSONAS_FILE": str(tmp_path / "personas.toml"),
    }
    done = CliRunner().invoke(app, ["db", "upgrade"], env=values)
    assert done.exit_code == 0, done.output
    return values


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_campaign_create_update_show_and_list(env: dict[str, str], tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        'allowed_overrides = ["first_message", "voice"]\n'
        '[calling_hours]\ndays = ["mon", "fri"]\nstart = "10:00:00"\nend = "18:00:00"\n'
    )
    code, out = run(
        env, "campaigns", "create", "spring", "--persona", "calm", "--config", str(policy)
    )
    assert code == 0, out
    created = json.loads(out)
    assert (created["persona"], created["agent_id"]) == ("calm", "agent_cli")
    assert created["calling_hours"]["days"] == [0, 4]

    code, out = run(env, "campaigns", "update", "spring", "--phone-number-id", "phnum_2")
    assert code == 0, out
    updated = json.loads(out)
    assert updated["phone_number_id"] == "phnum_2" and updated["persona"] == "calm"

    code, out = run(env, "campaigns", "show", str(created["id"]))
    assert code == 0 and json.loads(out)["phone_number_id"] == "phnum_2"
    code, out = run(env, "campaigns", "list")
    assert code == 0 and "spring" in out and "calm" in out


def test_campaign_errors_name_the_field(env: dict[str, str], tmp_path: Path) -> None:
    code, out = run(env, "campaigns", "create", "spring", "--persona", "calm")
    assert code == 2
    assert "persona" in out and "allowed_overrides" in out
    code, out = run(env, "campaigns", "create", "spring", "--persona", "nobody")
    assert code == 2 and "unknown persona 'nobody'" in out
    bad = tmp_path / "bad.json"
    bad.write_text('{"retry": {"max_attempts": 0}, "burst": {"mode": "sometimes"}}')
    code, out = run(env, "campaigns", "create", "spring", "--config", str(bad))
    assert code == 2 and "retry.max_attempts" in out and "burst.mode" in out
    code, out = run(env, "campaigns", "create", "1234")
    assert code == 2 and "name" in out
    assert run(env, "campaigns", "create", "spring")[0] == 0
    code, out = run(env, "campaigns", "create", "spring")
    assert code == 1 and "already exists" in out
    code, out = run(env, "campaigns", "update", "nope", "--persona", "calm")
    assert code == 1 and "unknown campaign" in out


def test_a_bad_personas_file_stops_the_command_naming_persona_and_field(
    env: dict[str, str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('[personas.calm]\nagent_id = "agent_cli"\nspeed = 3\nvoice = "x"\n')
    code, out = run({**env, "ORCH_PERSONAS_FILE": str(broken)}, "campaigns", "list")
    assert code == 2
    assert "personas.calm.speed" in out and "personas.calm.voice" in out
    code, out = run({**env, "ORCH_PERSONAS_FILE": str(tmp_path / "none.toml")}, "campaigns", "list")
    assert code == 2 and "no such file" in out
    placeholder = tmp_path / "placeholder.toml"
    placeholder.write_text(
        '[personas.calm]\nagent_id = "agent_cli"\nfirst_message = "Hi {{nickname}}"\n'
    )
    code, out = run({**env, "ORCH_PERSONAS_FILE": str(placeholder)}, "campaigns", "list")
    assert code == 2 and "personas.calm.first_message" in out and "nickname" in out


def test_tokens_are_shown_once_and_stored_hashed(env: dict[str, str]) -> None:
    code, out = run(env, "tokens", "create", "--scope", "crm", "--name", "crm-sync")
    assert code == 0
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("orch_")

    async def stored() -> list[ApiToken]:
        db = Database(env["ORCH_DATABASE_URL"])
        try:
            async with db.session() as s:
                return list((await s.exec(select(ApiToken))).all())
        finally:
            await db.dispose()

    [token] = asyncio.run(stored())
    assert token.scope == "crm" and token.token_hash != secret and secret not in token.prefix
    code, out = run(env, "tokens", "create", "--scope", "admin")
    assert code == 2 and "unknown scope" in out


def test_import_prints_a_summary_and_the_rejects_file(env: dict[str, str], tmp_path: Path) -> None:
    file = tmp_path / "contacts.csv"
    file.write_text(
        "external_id,phone_number,customer_name,visits\n"
        "a,+14155550123,Ada,3\n"
        "b,+14155550124,Bob,lots\n"
        "a,+14155550123,Ada L,3\n"
    )
    code, out = run(env, "contacts", "import", str(file), "--campaign", "spring", "--create")
    assert code == 0, out
    assert "rows" in out and "accepted" in out
    assert "visits" in out and "expected an integer" in out
    rejects = tmp_path / "contacts.rejects.csv"
    assert rejects.is_file()
    assert rejects.read_text().splitlines()[1].startswith("3,visits,")


def test_import_of_a_file_that_is_not_utf8_exits_with_a_message(
    env: dict[str, str], tmp_path: Path
) -> None:
    file = tmp_path / "latin1.csv"
    file.write_bytes(b"external_id,phone_number,customer_name\nx,+14155550123,Jos\xe9\n")
    result = CliRunner().invoke(
        app, ["contacts", "import", str(file), "-c", "spring", "--create"], env=env
    )
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an escaped error
    shown = " ".join(result.output.split())  # the console wraps long lines
    assert "not UTF-8" in shown and "line 2" in shown and "0xE9" in shown
    assert "Traceback" not in result.output


def stored_counts(env: dict[str, str]) -> tuple[list[str], int]:
    """The campaigns' names and the number of contacts in the CLI's database."""
    from orchestrator.store.models import Campaign, Contact

    async def read() -> tuple[list[str], int]:
        db = Database(env["ORCH_DATABASE_URL"])
        try:
            async with db.session() as s:
                names = [c.name for c in (await s.exec(select(Campaign))).all()]
                contacts = len((await s.exec(select(Contact))).all())
                return names, contacts
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_import_into_a_campaign_that_does_not_exist_creates_and_dials_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert run(env, "campaigns", "create", "spring")[0] == 0
    file = tmp_path / "contacts.csv"
    file.write_text("external_id,phone_number,customer_name\na,+14155550123,Ada\n")
    code, out = run(env, "contacts", "import", str(file), "--campaign", "sprnig")
    assert code == 1, out
    shown = " ".join(out.split())
    assert "no campaign 'sprnig'" in shown
    assert "orchestrator campaigns create" in shown and "--create" in shown
    assert "did you mean 'spring'" in shown
    assert stored_counts(env) == (["spring"], 0)


def test_import_with_create_makes_the_campaign_checked_and_says_so(
    env: dict[str, str], tmp_path: Path
) -> None:
    file = tmp_path / "contacts.csv"
    file.write_text("external_id,phone_number,customer_name\na,+14155550123,Ada\n")
    # An invalid name is refused the way `campaigns create` refuses it: nothing is stored.
    code, out = run(env, "contacts", "import", str(file), "-c", "no/slash", "--create")
    assert code == 2 and "name" in out, out
    # A file that cannot be imported creates no campaign either.
    broken = tmp_path / "broken.csv"
    broken.write_text("external_id,customer_name\na,Ada\n")
    code, out = run(env, "contacts", "import", str(broken), "-c", "autumn", "--create")
    assert code == 1 and "phone_number" in out, out
    assert stored_counts(env) == ([], 0)

    code, out = run(env, "contacts", "import", str(file), "-c", "autumn", "--create")
    assert code == 0, out
    shown = " ".join(out.split())
    assert "created campaign 'autumn'" in shown and "agent_cli" in shown
    assert stored_counts(env) == (["autumn"], 1)
    # Once it exists, --create just imports into it.
    code, out = run(env, "contacts", "import", str(file), "-c", "autumn", "--create")
    assert code == 0 and "created campaign" not in out, out


def test_calling_hours_beyond_the_legal_bounds_are_created_with_a_warning(
    env: dict[str, str], tmp_path: Path
) -> None:
    policy = tmp_path / "wide.toml"
    policy.write_text('[calling_hours]\nstart = "06:00"\nend = "23:00"\n')
    result = CliRunner().invoke(
        app, ["campaigns", "create", "wide", "--config", str(policy)], env=env
    )
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())
    assert "warning: calling_hours" in shown and "08:00–21:00" in shown


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("missing.json", None, "no such file"),
        ("bad.json", b'{"weight": 2,}', "is not JSON: expecting property name"),
        ("bad.toml", b"weight = = 2", "not valid TOML"),
        ("latin1.json", b'{"persona": "Jos\xe9"}', "not UTF-8"),
        ("list.json", b"[1, 2]", "expected an object"),
    ],
)
def test_a_config_file_that_cannot_be_read_is_named_in_our_words(
    env: dict[str, str], tmp_path: Path, name: str, content: bytes | None, says: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    code, out = run(env, "campaigns", "create", "spring", "--config", str(path))
    shown = " ".join(out.split())
    assert code == 2 and says in shown, out
    assert "Errno" not in shown and "codec" not in shown and "(char " not in shown


def test_a_rejects_file_that_cannot_be_written_is_a_clear_error(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert run(env, "campaigns", "create", "spring")[0] == 0
    file = tmp_path / "contacts.csv"
    file.write_text("external_id,phone_number,customer_name\na,bad,Ada\n")
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    code, out = run(env, "contacts", "import", str(file), "-c", "spring", "--rejects", str(folder))
    shown = " ".join(out.split())
    assert code == 1 and "folder.csv" in shown and "cannot" in shown, out
