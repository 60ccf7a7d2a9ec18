"""Pure domain code: no I/O, imports nothing else of ours."""
