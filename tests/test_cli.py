"""The command line on bad input: clear messages, non-zero exits, never a traceback."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.main import app

AGENT_TOML = """
agent_id = "agent_cli"
[agents.agent_cli.variables.customer_name]
type = "string"
[agents.agent_cli.variables.visits]
type = "integer"
default = 0
"""


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    config = tmp_path / "orchestrator.toml"
    config.write_text(AGENT_TOML)
    for name in ("DATABASE_URL", "REDIS_URL", "ELEVENLABS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "ORCH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "ORCH_CONFIG": str(config),
    }
    runner = CliRunner()
    result = runner.invoke(app, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    return env


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_bad_rows_are_reported_and_good_rows_imported(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    file = write_csv(
        tmp_path / "mixed.csv",
        [
            {
                "external_id": "a",
                "phone_number": "+14155550123",
                "customer_name": "Ada",
                "visits": "3",
            },
            {"external_id": "b", "phone_number": "12345", "customer_name": "Bob", "visits": "1"},
            {
                "external_id": "c",
                "phone_number": "+14155550124",
                "customer_name": "Cy",
                "visits": "x",
            },
            {
                "external_id": "",
                "phone_number": "+14155550125",
                "customer_name": "Di",
                "visits": "1",
            },
            {
                "external_id": "e",
                "phone_number": "+14155550126",
                "customer_name": "",
                "visits": "1",
            },
        ],
    )
    result = CliRunner().invoke(
        app, ["contacts", "import", str(file), "--campaign", "spring", "--create"], env=cli_env
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    rejects = list(csv.DictReader((tmp_path / "mixed.rejects.csv").open()))
    by_line = {(r["line"], r["field"]) for r in rejects}
    assert ("3", "phone_number") in by_line
    assert ("4", "visits") in by_line
    assert ("5", "external_id") in by_line
    assert ("6", "customer_name") in by_line
    assert not any(r["line"] == "2" for r in rejects)

    report = CliRunner().invoke(app, ["report", "spring", "--format", "json"], env=cli_env)
    assert report.exit_code == 0, report.output
    assert '"contacts": 1' in report.output


def test_nothing_importable_fails(tmp_path: Path, cli_env: dict[str, str]) -> None:
    file = write_csv(
        tmp_path / "bad.csv",
        [{"external_id": "a", "phone_number": "nope", "customer_name": "Ada", "visits": "1"}],
    )
    result = CliRunner().invoke(
        app, ["contacts", "import", str(file), "-c", "x", "--create"], env=cli_env
    )
    assert result.exit_code == 1
    assert "nothing could be imported" in result.output
    assert "Traceback" not in result.output


def test_missing_column_and_missing_file(tmp_path: Path, cli_env: dict[str, str]) -> None:
    file = write_csv(tmp_path / "nocol.csv", [{"external_id": "a", "customer_name": "Ada"}])
    result = CliRunner().invoke(
        app, ["contacts", "import", str(file), "-c", "x", "--create"], env=cli_env
    )
    assert result.exit_code == 1
    assert "missing required column(s): phone_number" in result.output
    missing = CliRunner().invoke(
        app, ["contacts", "import", str(tmp_path / "none.csv"), "-c", "x"], env=cli_env
    )
    assert missing.exit_code == 1
    assert "no such file" in missing.output


def test_unknown_campaign_and_bad_format(cli_env: dict[str, str]) -> None:
    unknown = CliRunner().invoke(app, ["report", "nope"], env=cli_env)
    assert unknown.exit_code == 1
    assert "unknown campaign: nope" in unknown.output
    bad = CliRunner().invoke(app, ["report", "nope", "--format", "xml"], env=cli_env)
    assert bad.exit_code == 2
    assert "--format" in bad.output


def test_invalid_settings_are_a_clear_error(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app, ["report", "x"], env={**cli_env, "ORCH_CONCURRENCY_LIMIT": "lots"}
    )
    assert result.exit_code == 2
    assert "invalid settings" in result.output
    assert "concurrency_limit" in result.output


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--until", "9999-12-31"], 0, "dials"),
        (["--since", "0001-01-01T00:00:00+14:00"], 0, "dials"),
        (["--since", "0001-01-01", "--until", "9999-12-31T23:59:59-05:00"], 0, "dials"),
        (["--until", "10000-01-01"], 2, "--until: expected an ISO date"),
        (["--since", "2026-02-30"], 2, "--since: expected an ISO date"),
        (["--since", "2025-03-05", "--until", "2025-03-01"], 2, "--until: must be after since"),
        (["--since", "2025-03-04T10:00+24:00"], 2, "--since"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_report_dates_far_or_bad_never_a_traceback(
    cli_env: dict[str, str], args: list[str], code: int, words: str
) -> None:
    result = CliRunner().invoke(app, ["report", "--format", "json", *args], env=cli_env)
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert words in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["tokens", "revoke", "99999999999999999999"],
        ["tokens", "revoke", "0"],
        ["sessions", "revoke", "99999999999999999999"],
        ["sessions", "revoke", "--token", "-3"],
        ["dead-letters", "--limit", "99999999999999999999"],
        ["dead-letters", "--limit", "-5"],
        ["unmatched-events", "--limit", "99999999999999999999"],
        ["unmatched-events", "--limit", "0"],
        ["web", "--port", "70000"],
        ["web", "--port", "-1"],
        ["demo", "--timeout", "inf"],
        ["demo", "--timeout", "-1"],
        ["sandbox", "inbound", "--duration", "inf"],
        ["sandbox", "inbound", "--timeout", "nan"],
        ["sandbox", "inbound", "--timeout", "0"],
    ],
    ids=" ".join,
)
def test_numbers_out_of_range_are_a_usage_error(cli_env: dict[str, str], args: list[str]) -> None:
    result = CliRunner().invoke(app, args, env=cli_env)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Invalid value" in result.output


def test_sessions_revoke_needs_exactly_one_target(cli_env: dict[str, str]) -> None:
    for args in ([], ["1", "--token", "1"]):
        result = CliRunner().invoke(app, ["sessions", "revoke", *args], env=cli_env)
        assert result.exit_code == 2, result.output
        assert "name a session id, or --token" in result.output
    missing = CliRunner().invoke(app, ["sessions", "revoke", "7"], env=cli_env)
    assert missing.exit_code == 1
    assert "no live session with id 7" in missing.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        # Arguments a shell passes as bytes that are not UTF-8 reach Python as lone surrogates.
        (["tokens", "create", "--scope", "crm", "--name", "ci\udcff"], "name: invalid text"),
        (["campaigns", "create", "spring", "--persona", "p\x00"], "persona: invalid text"),
        (["campaigns", "show", "x\udcff"], "unknown campaign: x\\udcff"),
        (["campaigns", "pause", "x\x00"], "unknown campaign: x\\u0000"),
        (["report", "x\udcff"], "unknown campaign: x\\udcff"),
    ],
)
def test_arguments_with_invalid_text_are_a_clear_error(
    cli_env: dict[str, str], args: list[str], says: str
) -> None:
    result = CliRunner().invoke(app, args, env={**cli_env, "COLUMNS": "200"})
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert says in result.output
