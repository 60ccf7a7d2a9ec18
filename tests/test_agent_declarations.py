"""Agent declarations are held to the variable rules when the settings load: a default goes out
unchecked on every call of the agent, so a bad one must stop start-up, naming agent and variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from orchestrator.domain.initiation import compose_initiation
from orchestrator.domain.variables import AgentConfig
from orchestrator.main import app
from orchestrator.settings import Settings


def refusal(variables: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None, agents={"agent_x": {"variables": variables}})
    [error] = info.value.errors()
    assert error["loc"] == ("agents", "agent_x", "variables")
    return str(error["msg"])


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ({"type": "integer", "default": "many"}, "expected an integer, got 'many'"),
        ({"type": "integer", "default": 1.5}, "expected an integer"),
        ({"type": "integer", "default": True}, "expected an integer"),
        ({"type": "number", "default": False}, "expected a number"),
        ({"type": "number", "default": float("nan")}, "finite"),
        ({"type": "boolean", "default": "perhaps"}, "expected a boolean"),
        ({"type": "boolean", "default": 1}, "expected a boolean"),
        ({"default": ""}, "empty values are never sent"),
        ({"type": "integer", "default": ""}, "empty values are never sent"),
        ({"default": "Ada\x00"}, "invalid text at character 4: NUL"),
        ({"default": "\x07"}, "control character U+0007"),
    ],
)
def test_a_default_the_rules_refuse_is_refused_naming_the_variable(
    declared: dict[str, Any], expected: str
) -> None:
    message = refusal({"visits": declared})
    assert "variable 'visits'" in message and "default" in message and expected in message


@pytest.mark.parametrize("name", ["system__x", "9lives", "a b", ""])
def test_a_name_the_rules_refuse_is_refused(name: str) -> None:
    assert f"variable {name!r}" in refusal({name: {"default": "x"}})


def test_every_bad_declaration_is_named_at_once() -> None:
    message = refusal({"a": {"default": ""}, "ok": {}, "system__b": {}})
    assert "variable 'a'" in message and "variable 'system__b'" in message
    assert "variable 'ok'" not in message


def test_a_secret_default_is_masked_in_the_refusal() -> None:
    message = refusal({"secret__pin": {"type": "integer", "default": "pin-55821"}})
    assert "variable 'secret__pin'" in message and "pin-55821" not in message


@pytest.mark.parametrize(
    ("declared", "kept"),
    [
        ({"type": "integer", "default": " 7 "}, 7),
        ({"type": "integer", "default": 3.0}, 3),
        ({"type": "number", "default": "1.5"}, 1.5),
        ({"type": "boolean", "default": "yes"}, True),
        ({"type": "string", "default": 5}, "5"),
        ({"type": "string", "default": False}, "false"),
        ({"type": "number", "default": 0}, 0),
        ({"type": "string", "default": " "}, " "),
    ],
)
def test_a_default_is_kept_as_the_rules_keep_a_value(declared: dict[str, Any], kept: Any) -> None:
    # Text from an environment variable reads as a CSV cell does; the rest as a value given.
    agent = AgentConfig.model_validate({"variables": {"v": declared}})
    assert agent.variables["v"].default == kept
    assert type(agent.variables["v"].default) is type(kept)
    sent = compose_initiation(agent=agent, user_id=None)["dynamic_variables"]
    assert sent == {"v": kept}


def test_the_shipped_configuration_still_loads() -> None:
    from orchestrator.settings import load_settings

    config = Path(__file__).resolve().parents[1] / "config" / "orchestrator.toml"
    loaded = load_settings(config, _env_file=None, personas={})
    assert loaded.agents


def test_the_cli_names_agent_and_variable_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "orchestrator.toml"
    config.write_text('[agents.agent_cli.variables.visits]\ntype = "integer"\ndefault = "many"\n')
    env = {
        "ORCH_CONFIG": str(config),
        "ORCH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "ORCH_PERSONAS_FILE": "",
    }
    result = CliRunner().invoke(app, ["campaigns", "list"], env=env)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    shown = " ".join(result.output.split())  # the console wraps long lines
    assert "agents.agent_cli.variables" in shown
    # The reason, not the value (a value beside it may be a secret).
    assert "variable 'visits'" in shown and "expected an integer, got ***" in shown
    assert "many" not in shown
