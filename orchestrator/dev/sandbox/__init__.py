"""The sandbox: a local simulator of the ElevenLabs Agents telephony API.

It speaks the subset of the API the orchestrator uses, with the real shapes — outbound calls over
Twilio and SIP, conversation get/list/audio — and plays the provider's part: a concurrency limit
with burst semantics, simulated calls on a compressed clock, signed post-call webhooks, and fault
injection (lost, duplicated, delayed webhooks; 429/5xx; answers lost after the call was placed).
`GET /sandbox/dials` and `/sandbox/summary` let a test prove that no one was dialled twice.

Modules: `config` (knobs), `calls` (records, dial log, concurrency), `script` (what calls say),
`audio` (fake MP3), `simulator` (call lifecycles), `delivery` (webhooks), `inbound` (the
personalization webhook), `schemas` (request bodies), `state` (one sandbox's memory), `app`
(routes), `server` (uvicorn), `sink` (a signature-checking webhook receiver for tests and demos).
"""

from orchestrator.dev.sandbox.app import create_app
from orchestrator.dev.sandbox.config import SandboxConfig
from orchestrator.dev.sandbox.server import run, running, serve

__all__ = ["SandboxConfig", "create_app", "run", "running", "serve"]
