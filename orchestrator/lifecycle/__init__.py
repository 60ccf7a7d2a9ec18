"""What happens when an attempt ends or must stop: one home, reached by every stage through this
small interface.

```
end_attempt(deps, id, expected, state, why)  stop an attempt that places no call: CAS into a
                                             terminal state, then finish it (dialing, scheduling)
finish_attempt(deps, id)                     a terminal attempt's bookkeeping, once: slots freed,
                                             contact updated, retry planned, do-not-call applied,
                                             the call remembered, the CRM told (tracking)
lock_rows / settle_in                        the same inside the caller's transaction (tracking)
count_failure(deps, id, ...)                 a failure of the record itself: rescheduled, parked
                                             after N of one kind (dialing, scheduling); not one
                                             of INFRASTRUCTURE_ERRORS, which are never counted
add_do_not_call(s, phone, reason)            the do-not-call list (web, a spoken opt-out)
recall / context_variables                   the memory of the last call (dialing, inbound)
replay_unmatched(deps, conversation_id)      news that came before its attempt knew the call
release_slots / hold_slots / release_ended   an attempt's concurrency slots
```

Modules: `finish` (ending), `retry` (the next attempt), `do_not_call`, `parking`, `memory` (the
last call's context), `notify` (CRM notifications), `slots`, `unmatched`.
"""

from orchestrator.lifecycle.do_not_call import add_do_not_call
from orchestrator.lifecycle.finish import (
    count_burst_surcharge,
    end_attempt,
    finish_attempt,
    lock_rows,
    settle_in,
    settle_unfinished,
)
from orchestrator.lifecycle.memory import context_variables, recall
from orchestrator.lifecycle.parking import (
    INFRASTRUCTURE_ERRORS,
    count_failure,
    failure_kind,
    failure_reason,
)
from orchestrator.lifecycle.slots import hold_slots, release_ended, release_orphans, release_slots
from orchestrator.lifecycle.unmatched import replay_unmatched

__all__ = [
    "INFRASTRUCTURE_ERRORS",
    "add_do_not_call",
    "context_variables",
    "count_burst_surcharge",
    "count_failure",
    "end_attempt",
    "failure_kind",
    "failure_reason",
    "finish_attempt",
    "hold_slots",
    "lock_rows",
    "recall",
    "release_ended",
    "release_orphans",
    "release_slots",
    "replay_unmatched",
    "settle_in",
    "settle_unfinished",
]
