"""News that came before its attempt knew the call: replayed once the attempt learns it.

A webhook can beat the dialer's own commit of the conversation id, or arrive for a call whose
dialer died (adopted later by the reconciler). Such events are stored `unmatched`; the moment an
attempt gets the conversation id, they are enqueued again for processing.
"""

from __future__ import annotations

from sqlmodel import col, select

from orchestrator import keys
from orchestrator.deps import Deps
from orchestrator.store.models import WebhookEvent


async def replay_unmatched(deps: Deps, conversation_id: str) -> int:
    """Enqueue again the stored events of `conversation_id` that no attempt claimed yet.

    Called once an attempt gets its conversation id: after the dialer's commit (a webhook may
    beat it) and when the reconciler adopts a call whose dialer died. Returns how many.
    """
    async with deps.db.quick() as s:
        rows = (
            await s.exec(
                select(WebhookEvent.id, WebhookEvent.event_type).where(
                    WebhookEvent.conversation_id == conversation_id,
                    col(WebhookEvent.status) == "unmatched",
                )
            )
        ).all()
    for event_id, event_type in rows:
        assert event_id is not None
        await deps.enqueue(
            keys.JOB_PROCESS_EVENT,
            event_id,
            job_id=keys.event_job_id(event_type, conversation_id, event_id) + ":late",
        )
    return len(rows)
