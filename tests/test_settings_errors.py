"""Invalid settings at every entry point: each field and reason named, no value, no traceback.

Each entry point runs as a real process (as a platform starts it) with settings whose input holds
a planted secret next to the invalid field, or quoted by the check that refuses it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

ENTRY_POINTS = {
    "orchestrator web": [str(BIN / "orchestrator"), "web"],
    "uvicorn factory": [str(BIN / "uvicorn"), "orchestrator.web.app:create_app", "--factory"],
    "orchestrator worker": [str(BIN / "orchestrator"), "worker"],
    "arq WorkerSettings": [str(BIN / "arq"), "jobs.worker.WorkerSettings"],
    "orchestrator campaigns list": [str(BIN / "orchestrator"), "campaigns", "list"],
}

NESTED_TOML = """
[agents.agent_x.variables.secret__api]
type = "string"
default = "tok_PLANTED_toml_91ab"

[agents.agent_x.variables.secret__pin]
type = "integer"
default = "pin_PLANTED_quoted_3c"
"""

#: scenario → (environment, TOML file text or None, the field the report must name)
SCENARIOS: dict[str, tuple[dict[str, str], str | None, str]] = {
    # A nested model refused: its whole input (both agent variables) is pydantic's input_value,
    # and the check quotes the refused default.
    "nested": ({"ORCH_WEBHOOK_SECRETS": "whk_PLANTED_env_77f0"}, NESTED_TOML, "agents.agent_x"),
    # A whole-settings check refused: pydantic's input_value is every raw input, secrets too.
    "whole": (
        {"ORCH_WEBHOOK_SECRETS": "whk_PLANTED_env_77f0", "ORCH_PERSONAS_FILE": "/nope/p.toml"},
        None,
        "personas_file",
    ),
    # An environment variable that is not JSON: pydantic-settings raised through a traceback.
    "not json": (
        {"ORCH_AGENTS": '{"agent_x": {"variables": "tok_PLANTED_json_aa01"'},
        None,
        "agents",
    ),
}
PLANTED = ("tok_PLANTED_toml_91ab", "pin_PLANTED_quoted_3c", "whk_PLANTED_env_77f0", "PLANTED")


def clean_env(tmp_path: Path) -> dict[str, str]:
    """The machine's environment without any of our settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ORCH_", "ELEVENLABS_", "TWILIO_", "SANDBOX_"))
        and k not in ("DATABASE_URL", "REDIS_URL", "REDISCLOUD_URL", "PORT")
    }
    env["ORCH_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'never.db'}"
    env["ORCH_REDIS_URL"] = "redis://127.0.0.1:1/0"  # never reached: settings fail first
    return env


#: Every entry point with the nested input; the other inputs through each way a process stops
#: (the CLI's exit, and the plain exit of the uvicorn factory and of arq's import).
CASES = [(entry, "nested") for entry in ENTRY_POINTS] + [
    (entry, scenario)
    for entry in ("uvicorn factory", "arq WorkerSettings", "orchestrator campaigns list")
    for scenario in ("whole", "not json")
]


@pytest.mark.parametrize(("entry", "scenario"), CASES)
def test_invalid_settings_name_the_field_without_values(
    entry: str, scenario: str, tmp_path: Path
) -> None:
    extra, toml, field = SCENARIOS[scenario]
    env = {**clean_env(tmp_path), **extra}
    if toml is not None:
        (tmp_path / "bad.toml").write_text(toml)
        env["ORCH_CONFIG"] = str(tmp_path / "bad.toml")
    done = subprocess.run(
        ENTRY_POINTS[entry],
        cwd=tmp_path,  # no config/orchestrator.toml, no .env
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "invalid settings" in output, output
    assert field in output, output
    assert "Traceback" not in output, output
    for planted in PLANTED:
        assert planted not in output, f"{planted!r} printed by {entry}:\n{output}"


def test_a_value_quoted_by_a_check_is_masked(tmp_path: Path) -> None:
    from orchestrator.errors import InvalidSettings
    from orchestrator.settings_errors import load_checked

    with pytest.raises(InvalidSettings) as caught:
        load_checked(_env_file=None, personas_file=str(tmp_path / "tok_PLANTED_path_e2"))
    assert "personas_file" in str(caught.value)
    assert "tok_PLANTED_path_e2" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
