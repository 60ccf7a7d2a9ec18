"""③ Dialing: each queued attempt placed exactly once, never above the limits.

- `dial`       the gate, burst, slots and pacing, then the compare-and-set claim (queued → dialing)
- `initiation` the call's `conversation_initiation_client_data`, from every layer
- `send`       the dial POST, sent once, and what is known of its fate (initiated, refused, unknown)
- `route`      natively through the provider, or with our own Twilio client (`dial_mode`)
- `reconcile`  a dial whose fate is unknown is adopted or released — never redialled while the
               call may exist
"""
