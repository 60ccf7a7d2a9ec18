"""The `orchestrator` command line.

Every command builds the settings once and passes them down; errors become a one-line message
and a non-zero exit, never a traceback. Commands live in one module per concern and register
themselves on `app` when imported below.
"""

from __future__ import annotations

from orchestrator.cli import (  # noqa: F401
    admin,
    campaign_control,
    campaigns,
    db,
    intake,
    parked,
    personalization,
    processes,
    reports,
    sessions,
    tokens,
)
from orchestrator.cli.base import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
