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


def call_slots(conversation_id: str) -> str:
    """The attempt and scope keys of a live call, by its conversation id (for an early release)."""
    return f"{PREFIX}:call-slots:{conversation_id}"


def pacing_bucket(name: str = "account") -> str:
    """Token bucket of calls started per second."""
    return f"{PREFIX}:pacing:{name}"


def dial_job_id(attempt_id: int, claim: int | None = None) -> str:
    """arq job id of an attempt's dial: enqueueing it twice for one claim is a no-op.

    `claim` (the claim's time in ms) tells claims apart, so an attempt handed back to the
    dispatcher — say its job sat with a worker that died — can be queued again at once instead of
    waiting for the dead job's lock to expire. Only one claim can ever dial: the compare-and-set
    queued → dialing decides.
    """
    return f"dial:{attempt_id}" if claim is None else f"dial:{attempt_id}:{claim}"


def event_job_id(event_type: str, conversation_id: str | None, event_id: int) -> str:
    """arq job id of a webhook's processing: one per (type, conversation)."""
    if conversation_id:
        return f"event:{event_type}:{conversation_id}"
    return f"event:{event_type}:row{event_id}"


def burst_budget(campaign_id: int, day: str) -> str:
    """Hash of one campaign's burst calls and extra credits on one day (`calls`, `credits`)."""
    return f"{PREFIX}:burst:budget:{campaign_id}:{day}"


def fair_share() -> str:
    """Hash of the dispatcher's smooth weighted round-robin state (campaign id → current)."""
    return f"{PREFIX}:dispatcher:fair"


def dispatcher_lock() -> str:
    """Held by the one dispatcher pass running at a time across workers."""
    return f"{PREFIX}:dispatcher:lock"


def personalization_record(agent_id: str, caller: str) -> str:
    """The precomputed personalization answer for one caller number of one agent."""
    return f"{PREFIX}:personalization:rec:{agent_id}:{caller}"


def personalization_records_pattern() -> str:
    """SCAN pattern matching every precomputed personalization answer."""
    return f"{PREFIX}:personalization:rec:*"


def personalization_index() -> str:
    """Hash: contact id → the record key it answers (to find a record a change left behind)."""
    return f"{PREFIX}:personalization:index"


def personalization_watermarks() -> str:
    """Hash: table → `iso-timestamp` of the newest change the refresher has applied."""
    return f"{PREFIX}:personalization:watermarks"


def personalization_config() -> str:
    """Hash of the personas/agents configuration the records were built with."""
    return f"{PREFIX}:personalization:config"


def personalization_lock() -> str:
    """Held by the one personalization refresher pass running at a time across workers."""
    return f"{PREFIX}:personalization:lock"
