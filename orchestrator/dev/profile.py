"""The sample profile, defined once: the sandbox agent's declared variables.

The bundled sample contacts (`orchestrator/data/`) carry these variables; the demo, the
benchmarks and the end-to-end tests declare them from here.
"""

from __future__ import annotations

#: The agent's declared variables, as `config/orchestrator.toml` holds them.
SAMPLE_AGENT_TOML = """[agents.agent_sandbox.variables.customer_name]
type = "string"
[agents.agent_sandbox.variables.plan]
type = "string"
default = "basic"
[agents.agent_sandbox.variables.balance]
type = "number"
default = 0
[agents.agent_sandbox.variables.visits]
type = "integer"
default = 0
[agents.agent_sandbox.variables.vip]
type = "boolean"
default = false
"""
