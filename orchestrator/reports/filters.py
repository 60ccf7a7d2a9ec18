"""The WHERE clauses of a report's scope, per table, and the attempt states reports group by.

Every report query filters through these, so a campaign report and a date-range report differ
only here. The indexes they rely on are declared in `store/models.py` (see `bench/reports.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlmodel import col

from orchestrator.store.models import Attempt, Contact, Outcome
from orchestrator.store.outcome_values import OutcomeValue

#: Attempts that reached the provider, or were being placed: a dial.
DIALED: tuple[str, ...] = (
    "dialing",
    "unknown",
    "initiated",
    "in_progress",
    "completed",
    "voicemail",
    "no_answer",
    "busy",
    "failed",
)
#: A call may be live at the provider.
LIVE: tuple[str, ...] = ("dialing", "unknown", "initiated", "in_progress")
#: The provider connected the call (a person or a machine answered).
CONNECTED: tuple[str, ...] = ("completed", "voicemail")


@dataclass(frozen=True)
class Filters:
    """A resolved scope: a campaign id (None: all) and an optional dial-time range."""

    campaign_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def ranged(self) -> bool:
        """True when limited to calls dialled in a range."""
        return self.since is not None or self.until is not None

    def _range(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.since is not None:
            clauses.append(col(Attempt.dial_started_at) >= self.since)
        if self.until is not None:
            clauses.append(col(Attempt.dial_started_at) < self.until)
        return clauses

    def attempts(self) -> list[ColumnElement[bool]]:
        """Attempts in scope (with a range: those dialled in it)."""
        clauses = self._range()
        if self.campaign_id is not None:
            clauses.append(col(Attempt.campaign_id) == self.campaign_id)
        return clauses

    def _dialled(self, column: Any) -> Select[Any]:
        return select(column).where(*self.attempts())

    def contacts(self) -> list[ColumnElement[bool]]:
        """Contacts in scope (with a range: those dialled in it)."""
        if self.ranged:
            return [col(Contact.id).in_(self._dialled(Attempt.contact_id))]
        if self.campaign_id is not None:
            return [col(Contact.campaign_id) == self.campaign_id]
        return []

    def outcomes(self) -> list[ColumnElement[bool]]:
        """Outcomes in scope (with a range: of the calls dialled in it)."""
        if self.ranged:
            return [col(Outcome.attempt_id).in_(self._dialled(Attempt.id))]
        if self.campaign_id is not None:
            return [col(Outcome.campaign_id) == self.campaign_id]
        return []

    def values(self) -> list[ColumnElement[bool]]:
        """Data-collection and evaluation values in scope."""
        if self.ranged:
            return [col(OutcomeValue.attempt_id).in_(self._dialled(Attempt.id))]
        if self.campaign_id is not None:
            return [col(OutcomeValue.campaign_id) == self.campaign_id]
        return []

    def same_campaign(self) -> list[ColumnElement[bool]]:
        """Only the campaign (no range): for physical facts such as calls in flight."""
        if self.campaign_id is None:
            return []
        return [col(Attempt.campaign_id) == self.campaign_id]
