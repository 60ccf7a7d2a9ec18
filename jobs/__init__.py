"""arq jobs: thin adapters from Redis jobs to the orchestrator's typed functions."""
