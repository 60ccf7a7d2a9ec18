"""① Intake: contacts and calls come in, validated the same way whatever brought them.

A CRM pushes rows over HTTP (`POST /v1/campaigns/{c}/contacts`, `POST /v1/calls`), a person imports
a CSV (`orchestrator contacts import`), another service enqueues the Redis job `enqueue_call`.
Each becomes a `Contact` and an `Attempt` due now (`scheduled`), or a refusal naming each field.

- `schema`       the public shape of one row (`ContactIn`, `EnqueueCallJob`, `CallIn`)
- `rows`         the rules that depend on the campaign (`RowRules`, `validate_row`)
- `text_rows`    a CSV record to a row; `csv_import` the streaming import, with
                 `validation_pool`/`validation_worker` for large files
- `upsert`       rows written in batches, a known contact patched (nothing erased by omission)
- `calls`        one call now: the contact upserted and its attempt made due
- `jobs`         the Redis job; `kept_payload` what a dead letter keeps of a refused payload
- `campaign_spec` campaign create/update bodies; `reseal` secrets re-encrypted after rotation
- `e164`, `unreadable` phone numbers; bodies and files no parser can read, in our words
"""
