"""How every entry point reports settings it cannot load: each field and reason, never a value.

Pydantic's `str(ValidationError)` shows the raw input of the failing model, and for a nested
model or a whole-settings check that input holds its neighbours too: a webhook secret, an API
key, an agent's `secret__` default. Our own checks sometimes quote the value they refuse. So the
report is built from the errors' locations and messages, with every value of the failing input
masked where a message quotes it. The web (CLI and uvicorn factory), the worker (`orchestrator
worker` and `arq jobs.worker.WorkerSettings`) and every CLI command go through here.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsError

from orchestrator.errors import InvalidSettings
from orchestrator.settings import Settings, load_settings

#: What loading the settings raises for bad input (the TOML file's syntax, an environment
#: variable that is not JSON, a value a validator refuses).
LOAD_ERRORS = (ValidationError, SettingsError, tomllib.TOMLDecodeError)

MASK = "***"
#: Exit status of a process that stops on invalid settings (the CLI's usage-error status).
EXIT_STATUS = 2


def _leaves(value: Any) -> Iterator[str]:
    """Every scalar inside `value`, as text."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield str(value)


def _masked(message: str, given: Any) -> str:
    """`message` with each value of `given` it quotes replaced (longest first)."""
    for leaf in sorted(set(_leaves(given)), key=len, reverse=True):
        if not leaf:
            continue
        for quoted in (repr(leaf), f'"{leaf}"', f"'{leaf}'"):
            message = message.replace(quoted, MASK)
        if len(leaf) >= 8:  # long enough to be a secret, and unlikely to be a word of ours
            message = message.replace(leaf, MASK)
    return message


def describe(exc: BaseException) -> str:
    """One line: `field: reason; field: reason` with no value from the input."""
    if isinstance(exc, ValidationError):
        problems = []
        for error in exc.errors(include_url=False, include_context=False):
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            reason = _masked(error["msg"].removeprefix("Value error, "), error.get("input"))
            problems.append(f"{where}: {reason}")
        return "; ".join(problems)
    if isinstance(exc, tomllib.TOMLDecodeError):
        # Its message is the syntax error and its position, not the text around it.
        return f"config file ({_config_file()}): {exc}"
    # SettingsError names the field and source ("error parsing value for field ... from source
    # ...") without the value.
    return str(exc)


def _config_file() -> str:
    from os import environ

    return str(Path(environ.get("ORCH_CONFIG", "config/orchestrator.toml")))


def load_checked(config_file: Path | None = None, **overrides: Any) -> Settings:
    """`load_settings`, raising `InvalidSettings` (no value, no chained traceback) on bad input.

    Raises:
        InvalidSettings: the settings cannot be loaded; the message names each field.
    """
    try:
        return load_settings(config_file, **overrides)
    except LOAD_ERRORS as exc:
        raise InvalidSettings(f"invalid settings — {describe(exc)}") from None


def exit_invalid(error: InvalidSettings) -> NoReturn:
    """Print `error` to stderr and end the process with `EXIT_STATUS`, no traceback."""
    print(f"error: {error}", file=sys.stderr)
    raise SystemExit(EXIT_STATUS)


def load_or_exit(config_file: Path | None = None, **overrides: Any) -> Settings:
    """The settings, or the process ends with the problems printed (for process entry points)."""
    try:
        return load_checked(config_file, **overrides)
    except InvalidSettings as exc:
        exit_invalid(exc)
