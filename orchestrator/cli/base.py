"""What every command module shares: the Typer app, consoles, error exits, settings."""

from __future__ import annotations

from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console

from orchestrator.settings import Settings, load_settings

app = typer.Typer(
    help="Outbound calling for ElevenLabs voice agents: intake, scheduling, dialing, tracking, "
    "reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` as an error and return the exit to raise."""
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def settings(**overrides: Any) -> Settings:
    """The settings, or a clear exit naming each invalid field."""
    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise fail(f"invalid settings — {problems}", 2) from None


campaigns_app = typer.Typer(
    help="Campaigns: create, update, list, pause, resume, cancel.", no_args_is_help=True
)
app.add_typer(campaigns_app, name="campaigns")
