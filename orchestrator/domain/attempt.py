"""The attempt state machine: one dial of one contact.

```
scheduled → queued → dialing → initiated → in_progress → {completed, voicemail, no_answer,
    ↑          │         │                                     busy, failed}  (terminal; only
    │          │         │                                     ever get richer)
    └──────────┴─────────┴── released before the provider took the call (refusal, 429, window)
dialing → unknown  (the dial POST's fate is not known: timeout, reset, 5xx) → adopted or rescheduled
queued, dialing, unknown, scheduled → parked  (failed the same way N times before any call was
    placed: out of the dial loop, slots free, the reason kept) → scheduled when re-queued
any non-terminal → canceled (campaign stopped, do-not-call)
```

`parked` is not terminal: nothing was placed and no retry is planned; the contact waits (its
disposition `parked`) until someone fixes the cause and re-queues the attempt, or cancels it.

Transitions are compare-and-set in the database, so two workers can never both dial one attempt;
merges of provider news never move an attempt backwards (`rank`).
"""

from __future__ import annotations

from enum import StrEnum


class AttemptState(StrEnum):
    """Where one attempt stands."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    DIALING = "dialing"
    UNKNOWN = "unknown"
    INITIATED = "initiated"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    VOICEMAIL = "voicemail"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    CANCELED = "canceled"
    PARKED = "parked"


TERMINAL: frozenset[AttemptState] = frozenset(
    {
        AttemptState.COMPLETED,
        AttemptState.VOICEMAIL,
        AttemptState.NO_ANSWER,
        AttemptState.BUSY,
        AttemptState.FAILED,
        AttemptState.CANCELED,
    }
)

#: States in which a call may be live at the provider (a slot is held).
LIVE: frozenset[AttemptState] = frozenset(
    {
        AttemptState.DIALING,
        AttemptState.UNKNOWN,
        AttemptState.INITIATED,
        AttemptState.IN_PROGRESS,
    }
)

#: States an attempt can be canceled from without touching the provider.
CANCELABLE: frozenset[AttemptState] = frozenset(
    {AttemptState.SCHEDULED, AttemptState.QUEUED, AttemptState.PARKED}
)

_RANK: dict[AttemptState, int] = {
    AttemptState.SCHEDULED: 0,
    AttemptState.PARKED: 0,
    AttemptState.QUEUED: 1,
    AttemptState.DIALING: 2,
    AttemptState.UNKNOWN: 2,
    AttemptState.INITIATED: 3,
    AttemptState.IN_PROGRESS: 4,
}


def rank(state: AttemptState) -> int:
    """Order of progress; every terminal state ranks highest."""
    return 5 if state in TERMINAL else _RANK[state]


def is_terminal(state: AttemptState | str) -> bool:
    """True when nothing more will happen to the call itself."""
    return AttemptState(state) in TERMINAL


def may_advance(current: AttemptState | str, new: AttemptState | str) -> bool:
    """Whether provider news may move `current` to `new` (never backwards, never off a terminal)."""
    cur, nxt = AttemptState(current), AttemptState(new)
    if cur in TERMINAL:
        return False
    return rank(nxt) > rank(cur)
