"""The dev kit: what lets a newcomer see the whole system work on one machine, and the tests
and benchmarks run without the internet.

- `sandbox/`  a local simulator of the provider's API (calls, webhooks, faults, inbound calls)
- `stack`     the local stack: redis-server, the sandbox, web and worker as processes
- `demo`      one whole campaign on the sandbox, with its report (`orchestrator demo`)
- `player`    inbound calls played against the personalization webhook (`sandbox inbound`)
- `profile`   the sample agent's declared variables, defined once
- `commands`  the CLI commands above

They ship as user-facing commands, but nothing in the product imports them (import-linter holds
it); `orchestrator.main` is the one module that joins their commands to the product's.
"""
