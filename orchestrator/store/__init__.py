"""The database: tables (`models`, migrations), the engine and its sessions, and the writes
shared by the stages.

- `engine`, `inline_sqlite`, `write_turns`  connections, SQLite's single writer and whose turn it is
- `group_commit`                            many small writes from concurrent callers, one commit
- `attempts`                                the compare-and-set transitions of the state machine
- `campaigns`, `tokens`, `web_sessions`, `bulk`, `outcome_values`, `types`
"""
