"""Every Redis key, channel and arq job name and id, built in one place."""

from __future__ import annotations

PREFIX = "orch"

# arq job names (the public Redis contract names `enqueue_call`).
JOB_DIAL = "dial_attempt"
JOB_PROCESS_EVENT = "process_webhook_event"
JOB_ENQUEUE_CALL = "enqueue_call"

#: Published whenever slots are released, so waiting dialers wake at once.
SLOTS_FREED_CHANNEL = f"{PREFIX}:slots:freed"

#: Scope kinds of the limiter, in the order the Lua script receives them.
SCOPE_ACCOUNT = "account"
SCOPE_AGENT = "agent"
SCOPE_CAMPAIGN = "campaign"
SCOPE_NUMBER = "number"


def slots(kind: str, ident: str | int) -> str:
    """Sorted set of live leases for one scope (member = attempt id, score = lease deadline)."""
    return f"{PREFIX}:slots:{kind}:{ident}"


def burst_marks() -> str:
    """Set of attempt ids currently holding a burst slot (above the plan's limit)."""
    return f"{PREFIX}:slots:burst"


def pacing_bucket(name: str = "account") -> str:
    """Token bucket of calls started per second."""
    return f"{PREFIX}:pacing:{name}"


def dial_job_id(attempt_id: int) -> str:
    """arq job id of an attempt's dial: enqueueing it twice while queued is a no-op."""
    return f"dial:{attempt_id}"


def event_job_id(event_type: str, conversation_id: str | None, event_id: int) -> str:
    """arq job id of a webhook's processing: one per (type, conversation)."""
    if conversation_id:
        return f"event:{event_type}:{conversation_id}"
    return f"event:{event_type}:row{event_id}"


def dispatcher_lock() -> str:
    """Held by the one dispatcher pass running at a time across workers."""
    return f"{PREFIX}:dispatcher:lock"
