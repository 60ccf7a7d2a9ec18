"""Pure rules, no I/O: they import nothing of ours but the exception tree.

Attempts and their states (`attempt`), outcomes and dispositions (`outcome`), retries (`retry`),
a campaign's policy (`campaign_policy`), dynamic variables and the agent's declarations
(`variables`), the initiation data of a call (`initiation`, `overrides`, `persona`), phone numbers
(`phone`), text we can carry (`text`), webhook signatures (`signing`), the calendar (`calendar`)
and calling windows (`windows/`).
"""
