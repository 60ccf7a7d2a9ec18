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


#: The ends of time a bound is clamped to: a date past them is "since forever" / "until forever".
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def _parse(field: str, text: str, *, end: bool) -> datetime:
    """One bound: an ISO date (a whole UTC day) or an ISO date-time, in UTC.

    A date is recognised in every form `date.fromisoformat` reads (`2025-03-04`, `20250304`), so a
    compact date is a whole day too, never a midnight instant. A real bound beyond what a datetime
    holds once shifted to UTC (`until=9999-12-31`, `since=0001-01-01T00:00+14:00`) is clamped to
    the end of time it points at: nothing can lie beyond it, so the meaning is kept.

    Raises:
        ValidationFailed: not an ISO date or date-time (the reason says why, e.g. no 30 February).
    """
    value = text.strip()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is not None:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if not end:
            return start
        return start + timedelta(days=1) if day < date.max else LATEST
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        # Python's own words name the broken part ("day is out of range for month"), except for
        # a shape it cannot read at all, where they would only echo the input back.
        reason = "" if str(exc).startswith("Invalid isoformat") else f" ({exc})"
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise ValidationFailed(
            [(field, f"expected an ISO date (YYYY-MM-DD) or date-time, got {shown!r}{reason}")]
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # Only a moment in year 1 or 9999 with an offset pointing past the edge gets here.
        offset = moment.utcoffset()
        return EARLIEST if offset is not None and offset > timedelta(0) else LATEST


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
