"""What every command module shares: the Typer app, consoles, error exits, settings."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from orchestrator.errors import InvalidSettings
from orchestrator.settings import Settings
from orchestrator.settings_errors import load_checked

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
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def settings(**overrides: Any) -> Settings:
    """The settings, or a clear exit naming each invalid field (never a value)."""
    try:
        return load_checked(**overrides)
    except InvalidSettings as exc:
        raise fail(str(exc), 2) from None


campaigns_app = typer.Typer(
    help="Campaigns: create, update, list, pause, resume, cancel.", no_args_is_help=True
)
app.add_typer(campaigns_app, name="campaigns")
