"""Settings that cannot work are refused at load, naming the field; the example environment
file names every variable the settings read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices, ValidationError

from orchestrator.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / "config" / ".env.example"


def load(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "limit"),
    [
        ({"concurrency_limit": 5, "inbound_reserve": 5}, "5"),
        ({"concurrency_limit": 5, "inbound_reserve": 9}, "5"),
        ({"plan": "free", "inbound_reserve": 4}, "4"),
    ],
)
def test_a_reserve_that_leaves_no_outbound_call_is_refused(
    values: dict[str, object], limit: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        load(**values)
    text = str(caught.value)
    assert "inbound_reserve" in text and f"concurrency limit ({limit})" in text


def test_a_reserve_below_the_limit_leaves_the_rest_to_outbound_calls() -> None:
    assert load(concurrency_limit=5, inbound_reserve=4).account_limit == 1
    assert load(plan="pro", inbound_reserve=5).account_limit == 15


def _env_names(name: str, alias: object) -> set[str]:
    """The environment variables that set one field."""
    if isinstance(alias, AliasChoices):
        return {str(choice) for choice in alias.choices if str(choice).isupper()}
    return {f"ORCH_{name.upper()}"}


def test_the_example_environment_names_every_setting() -> None:
    text = ENV_EXAMPLE.read_text()
    # `NAME=value`, commented out or not; a nested `NAME__FIELD=value` names NAME too.
    assigned = re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, re.M)
    named = {name.split("__")[0] for name in assigned} | set(assigned)
    missing = {
        name: sorted(names)
        for name, field in Settings.model_fields.items()
        if not (names := _env_names(name, field.validation_alias)) & named
    }
    assert missing == {}, f"config/.env.example lacks: {missing}"


def test_the_example_environment_loads_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "ELEVENLABS_API_KEY", "ORCH_CONFIG", "ORCH_ENV"):
        monkeypatch.delenv(name, raising=False)
    loaded = Settings(_env_file=ENV_EXAMPLE)  # type: ignore[call-arg]
    assert loaded.effective_twilio is not None  # empty Twilio values: the sandbox stands in
    assert loaded.inbound_reserve == 0
