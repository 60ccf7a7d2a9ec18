"""The console script `orchestrator`: the product's commands and the dev kit's, joined.

The one module that imports both `orchestrator.cli` and `orchestrator.dev`: the product never
imports the dev kit (import-linter holds it), yet `orchestrator demo` and `orchestrator sandbox`
are commands a user types.
"""

from __future__ import annotations

from orchestrator.cli import app
from orchestrator.dev import commands  # noqa: F401  (registers demo, sandbox, sandbox inbound)


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
