"""Clients of the voice provider: `elevenlabs` (outbound calls, conversations, audio) and
`twilio` (our own Twilio client, for campaigns with `dial_mode = "twilio"`).

Short network retries (tenacity) live here; business retries never do.
"""
