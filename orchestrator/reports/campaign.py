"""The campaign report: dispositions, attempts, rates, durations and cost, by aggregate SQL."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from orchestrator.domain.outcome import FINAL_DISPOSITIONS, Disposition
from orchestrator.store import campaigns
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Contact, Outcome

_DIALED = (
    "initiated",
    "in_progress",
    "completed",
    "voicemail",
    "no_answer",
    "busy",
    "failed",
    "unknown",
)


@dataclass
class CampaignReport:
    """Numbers a supervisor reads; every figure comes from the database."""

    campaign: str
    contacts: int = 0
    contacts_final: int = 0
    dispositions: dict[str, int] = field(default_factory=dict)
    reached_detail: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    attempts_by_state: dict[str, int] = field(default_factory=dict)
    dials: int = 0
    answered: int = 0
    successes: int = 0
    voicemails: int = 0
    transfers: int = 0
    opt_outs: int = 0
    burst_calls: int = 0
    talk_secs: float = 0.0
    credits: float = 0.0
    burst_credits: float = 0.0
    cost_fiat: float | None = None

    @property
    def answer_rate(self) -> float:
        """Answered calls per dial."""
        return self.answered / self.dials if self.dials else 0.0

    @property
    def success_rate(self) -> float:
        """Successful conversations per answered call."""
        return self.successes / self.answered if self.answered else 0.0

    @property
    def all_final(self) -> bool:
        """True once every contact has a final disposition."""
        return self.contacts > 0 and self.contacts_final == self.contacts

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, rates included."""
        data = asdict(self)
        data["answer_rate"] = round(self.answer_rate, 4)
        data["success_rate"] = round(self.success_rate, 4)
        data["all_final"] = self.all_final
        return data


async def campaign_report(db: Database, name: str) -> CampaignReport:
    """Build the report of the campaign called `name`.

    Raises:
        NotFound: no such campaign.
    """
    async with db.session() as s:
        campaign = await campaigns.get_by_name(s, name)
        report = CampaignReport(campaign=name)
        rows = (
            await s.exec(
                select(Contact.disposition, Contact.disposition_detail, func.count())
                .where(Contact.campaign_id == campaign.id)
                .group_by(col(Contact.disposition), col(Contact.disposition_detail))
            )
        ).all()
        final = {d.value for d in FINAL_DISPOSITIONS} | {Disposition.VOICEMAIL.value}
        for disposition, detail, count in rows:
            report.contacts += count
            report.dispositions[disposition] = report.dispositions.get(disposition, 0) + count
            if disposition in final:
                report.contacts_final += count
            if disposition == Disposition.REACHED and detail:
                report.reached_detail[detail] = report.reached_detail.get(detail, 0) + count
        for state, count in (
            await s.exec(
                select(Attempt.state, func.count())
                .where(Attempt.campaign_id == campaign.id)
                .group_by(col(Attempt.state))
            )
        ).all():
            report.attempts += count
            report.attempts_by_state[state] = count
            if state in _DIALED:
                report.dials += count
        answered = col(Outcome.state).in_(["completed", "voicemail"])
        # Nine aggregates in one pass; typed Any because the stubs stop at fewer columns.
        totals_query: Any = sa_select(
            func.count().filter(col(Outcome.state) == "completed"),
            func.count().filter(col(Outcome.call_successful) == "success"),
            func.count().filter(col(Outcome.state) == "voicemail"),
            func.count().filter(col(Outcome.transferred).is_(True)),
            func.count().filter(col(Outcome.is_burst).is_(True)),
            func.coalesce(func.sum(case((answered, Outcome.duration_secs), else_=0)), 0),
            func.coalesce(func.sum(Outcome.cost_credits), 0),
            func.coalesce(
                func.sum(case((col(Outcome.is_burst).is_(True), Outcome.cost_credits), else_=0)),
                0,
            ),
            func.sum(Outcome.cost_fiat),
        ).where(col(Outcome.campaign_id) == campaign.id)
        totals = (await s.exec(totals_query)).one()
        (
            report.answered,
            report.successes,
            report.voicemails,
            report.transfers,
            report.burst_calls,
            talk,
            credits,
            burst_credits,
            fiat,
        ) = totals
        report.talk_secs = float(talk)
        report.credits = float(credits)
        report.burst_credits = float(burst_credits)
        report.cost_fiat = float(fiat) if fiat is not None else None
        report.opt_outs = report.dispositions.get(Disposition.DO_NOT_CALL.value, 0)
        return report
