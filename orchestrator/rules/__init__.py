"""What may be dialled now: the gate every attempt passes before its claim.

`gate.admit` checks the do-not-call list, the contact's calling window in its local time, the
campaign's dates and the caps, and says: go, wait until a time, or cancel with a reason.
"""
