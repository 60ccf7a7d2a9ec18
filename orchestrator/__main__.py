"""`python -m orchestrator` runs the CLI."""

from orchestrator.main import main

main()
