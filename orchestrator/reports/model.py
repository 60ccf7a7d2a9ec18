"""The report's figures and their definitions; every rendering (table, JSON, CSV, HTML) reads
this one object, so the numbers agree everywhere."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: What each rate means; printed with every rendering and in the docs (guides/reports.md).
DEFINITIONS: dict[str, str] = {
    "dials": "attempts that reached the provider or were being placed (dialing, unknown, "
    "initiated, in progress, completed, voicemail, no answer, busy, failed)",
    "answered": "dials a person answered: a conversation took place (completed); a voicemail is "
    "not an answer here, although the provider bills it as connected",
    "answer_rate": "answered ÷ dials",
    "voicemail_rate": "dials that reached voicemail ÷ dials (answer + voicemail = connected)",
    "reach_rate": "contacts reached (disposition `reached`: at least one conversation) ÷ contacts",
    "success_rate": "conversations the provider judged successful (call_successful = success) "
    "÷ answered",
    "attempts_per_contact": "attempts made so far per contact, over contacts dialled at least once",
    "duration": "length of connected calls (completed and voicemail), nearest-rank percentiles",
    "credits_per_reached_contact": "credits of every call ÷ contacts reached",
    "usd": "the provider's cost_fiat where given, else credits (or minutes) × the plan's price "
    "in pricing.toml",
    "burst_surcharge": "burst calls are billed at 2× and their cost includes it: the surcharge is "
    "half of what burst calls cost",
    "evaluation_pass_rate": "success ÷ (success + failure) per criterion; unknown results apart",
    "by_hour": "dials and answers by hour of day in the contact's local time when the dial "
    "started; dials without a recorded hour are under 'unknown'",
    "utilization": "calls in flight at each instant ÷ the account's concurrency limit (burst "
    "calls can take it above 100%)",
    "range": "with since/until: calls dialled in the range, their outcomes, and the contacts they "
    "were to (with their disposition now)",
}


def ratio(part: float, whole: float) -> float:
    """`part / whole`, 0 when there is no whole; rounded for reading."""
    return round(part / whole, 4) if whole else 0.0


@dataclass
class Durations:
    """Connected calls' lengths in seconds."""

    calls: int = 0
    total_secs: float = 0.0
    mean_secs: float | None = None
    p50_secs: float | None = None
    p90_secs: float | None = None


@dataclass
class Costs:
    """Credits and dollars, burst surcharge included."""

    credits: float = 0.0
    credits_per_reached_contact: float | None = None
    usd: float | None = None
    usd_per_reached_contact: float | None = None
    #: Calls whose dollars came from the provider's `cost_fiat` / from the price list.
    fiat_calls: int = 0
    priced_calls: int = 0
    price: dict[str, Any] | None = None
    burst_calls: int = 0
    burst_credits: float = 0.0
    burst_surcharge_credits: float = 0.0
    burst_surcharge_usd: float | None = None


@dataclass
class NumberStats:
    """A numeric data-collection item."""

    count: int
    mean: float | None
    min: float | None
    max: float | None
    p50: float | None
    p90: float | None


@dataclass
class FieldStats:
    """One data-collection item: value counts (the 10 most frequent) and number statistics."""

    count: int = 0
    values: dict[str, int] = field(default_factory=dict)
    other_values: int = 0
    distinct_values: int = 0
    numbers: NumberStats | None = None


@dataclass
class Criterion:
    """One evaluation criterion's results."""

    success: int = 0
    failure: int = 0
    unknown: int = 0

    @property
    def pass_rate(self) -> float:
        """success ÷ (success + failure)."""
        return ratio(self.success, self.success + self.failure)


@dataclass
class HourRow:
    """Dials and answers in one local hour of day (`hour` None: not recorded)."""

    hour: int | None
    dials: int = 0
    answered: int = 0


@dataclass
class Utilization:
    """Calls in flight sampled at regular instants, against the account's limit."""

    limit: int | None = None
    burst_cap: int | None = None
    bucket_secs: int = 60
    times: list[str] = field(default_factory=list)
    in_flight: list[int] = field(default_factory=list)

    @property
    def peak(self) -> int:
        """Most calls in flight at a sampled instant."""
        return max(self.in_flight, default=0)

    @property
    def mean_utilization(self) -> float | None:
        """Mean share of the limit in use over the sampled instants."""
        if not self.limit or not self.in_flight:
            return None
        return round(sum(self.in_flight) / len(self.in_flight) / self.limit, 4)


@dataclass
class Report:
    """Every figure a supervisor reads about one campaign, or all, over all time or a range."""

    scope: dict[str, str | None]
    title: str
    generated_at: str
    campaign: str | None = None
    contacts: int = 0
    contacts_final: int = 0
    dispositions: dict[str, int] = field(default_factory=dict)
    reached_detail: dict[str, int] = field(default_factory=dict)
    reached: int = 0
    attempts: int = 0
    attempts_by_state: dict[str, int] = field(default_factory=dict)
    contacts_dialled: int = 0
    attempts_made: int = 0
    attempts_per_contact_distribution: dict[str, int] = field(default_factory=dict)
    dials: int = 0
    answered: int = 0
    successes: int = 0
    voicemails: int = 0
    transfers: int = 0
    opt_outs: int = 0
    durations: Durations = field(default_factory=Durations)
    costs: Costs = field(default_factory=Costs)
    data_collection: dict[str, FieldStats] = field(default_factory=dict)
    evaluation: dict[str, Criterion] = field(default_factory=dict)
    by_hour: list[HourRow] = field(default_factory=list)
    utilization: Utilization = field(default_factory=Utilization)

    # ---- rates ---------------------------------------------------------------------------
    @property
    def answer_rate(self) -> float:
        """Answered ÷ dials."""
        return ratio(self.answered, self.dials)

    @property
    def reach_rate(self) -> float:
        """Contacts reached ÷ contacts."""
        return ratio(self.reached, self.contacts)

    @property
    def success_rate(self) -> float:
        """Successful conversations ÷ answered."""
        return ratio(self.successes, self.answered)

    @property
    def voicemail_rate(self) -> float:
        """Voicemails ÷ dials."""
        return ratio(self.voicemails, self.dials)

    @property
    def attempts_per_contact(self) -> float:
        """Attempts made ÷ contacts dialled at least once."""
        return ratio(self.attempts_made, self.contacts_dialled)

    @property
    def all_final(self) -> bool:
        """True once every contact has a final disposition."""
        return self.contacts > 0 and self.contacts_final == self.contacts

    # Older names, kept for the JSON keys scripts read.
    @property
    def credits(self) -> float:
        """Credits of every call."""
        return self.costs.credits

    @property
    def burst_calls(self) -> int:
        """Calls billed at the burst price."""
        return self.costs.burst_calls

    def rates(self) -> dict[str, float]:
        """Every rate, by name."""
        return {
            "answer_rate": self.answer_rate,
            "reach_rate": self.reach_rate,
            "success_rate": self.success_rate,
            "voicemail_rate": self.voicemail_rate,
            "attempts_per_contact": self.attempts_per_contact,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: the figures, the rates and the definitions."""
        data = asdict(self)
        data.update(self.rates())
        data["all_final"] = self.all_final
        data["credits"] = self.credits
        data["burst_calls"] = self.burst_calls
        for name, criterion in self.evaluation.items():
            data["evaluation"][name]["pass_rate"] = criterion.pass_rate
        data["utilization"]["peak"] = self.utilization.peak
        data["utilization"]["mean_utilization"] = self.utilization.mean_utilization
        data["definitions"] = DEFINITIONS
        return data
