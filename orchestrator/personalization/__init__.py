"""Inbound personalization: who is calling, answered while the phone still rings.

When an inbound call rings, the provider asks `POST /webhooks/elevenlabs/personalization` for the
caller's `conversation_initiation_client_data`. The answer is precomputed per (agent, caller
number) in Redis whenever a contact, its context, its campaign or the configuration changes, so
the webhook is one lookup; a miss asks the database within a time budget; anything else answers
the agent's defaults. The modules:

- `builder`   the answer of one caller, from the same `compose_initiation` as outbound dials
- `records`   how an answer is kept in Redis (secret values sealed) and served back as bytes
- `source`    which contact answers for a caller number, read from the database in batches
- `request`   the provider's request: secret header, body checks
- `lookup`    the hot path: Redis, then the database within the budget, then the defaults
- `refresher` keeps the records fresh (watermarks on `updated_at`, full rebuilds)
- `record_reader` the Redis GETs of the hot path, pipelined on one connection

Its metrics are `metrics/personalization.py`; inbound calls are played against it by the dev
kit's player (`orchestrator sandbox inbound`).
"""
