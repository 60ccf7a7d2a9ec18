"""④ Tracking: every call's outcome, from signed webhooks and polling, merged once.

- `receive`, `audio_extract`  verify and read a post-call webhook as it streams (audio to storage)
- `ingest`, `event_writer`    store it durably and enqueue its processing, then answer 200
- `events`                    process a stored event (job `process_webhook_event`)
- `merge`                     the monotonic merge of what is known of a call into its attempt
- `poller`                    poll calls with no news; read the calls the reconciler adopted
- `missing_audio`             fetch recordings whose audio webhook never came

An attempt that ends is handed to `lifecycle/` (slots, contact, retry, CRM).
"""
