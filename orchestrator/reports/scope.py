"""What a report covers: one campaign or all of them, all time or the calls dialled in a range.

Without a range a report covers everything of its campaigns: every contact, every attempt
(scheduled ones too). With `since`/`until` it covers the calls *dialled* in the range (attempts
by `dial_started_at`), their outcomes, and the contacts those calls were to, with their
disposition as it is now. Dates are ISO dates (`2025-03-04`, a whole UTC day; `until` is
inclusive) or ISO date-times (`2025-03-04T09:00:00+01:00`; a naive one is UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from orchestrator.errors import ValidationFailed


@dataclass(frozen=True)
class ReportScope:
    """A validated report scope; `until` is exclusive here, whatever the caller wrote."""

    campaign: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: The bounds as the caller wrote them, for the report's header.
    since_text: str | None = None
    until_text: str | None = None

    @property
    def ranged(self) -> bool:
        """True when the report is limited to calls dialled in a time range."""
        return self.since is not None or self.until is not None

    def describe(self) -> str:
        """A heading for people: which campaigns, which dates."""
        who = f"Campaign {self.campaign!r}" if self.campaign else "All campaigns"
        if not self.ranged:
            return who
        return f"{who}, calls dialled {self.since_text or '…'} → {self.until_text or '…'}"

    def as_dict(self) -> dict[str, str | None]:
        """JSON form."""
        return {
            "campaign": self.campaign,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


def _parse(field: str, text: str, *, end: bool) -> datetime:
    """One bound: an ISO date (a whole day) or an ISO date-time.

    Raises:
        ValidationFailed: not an ISO date or date-time.
    """
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            [(field, f"expected an ISO date (YYYY-MM-DD) or date-time, got {text!r}")]
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def make_scope(
    campaign: str | None = None, since: str | None = None, until: str | None = None
) -> ReportScope:
    """Validate a scope from what a person typed.

    Raises:
        ValidationFailed: a bound is malformed (named `since` or `until`), or since > until.
    """
    problems: list[tuple[str, str]] = []
    start = end = None
    for field, text, is_end in (("since", since, False), ("until", until, True)):
        if text is None or not text.strip():
            continue
        try:
            parsed = _parse(field, text, end=is_end)
        except ValidationFailed as exc:
            problems.extend(exc.problems)
            continue
        if is_end:
            end = parsed
        else:
            start = parsed
    if start is not None and end is not None and start >= end:
        problems.append(("until", f"must be after since ({since} > {until})"))
    if problems:
        raise ValidationFailed(problems)
    return ReportScope(
        campaign=campaign or None,
        since=start,
        until=end,
        since_text=since.strip() if since and since.strip() else None,
        until_text=until.strip() if until and until.strip() else None,
    )
