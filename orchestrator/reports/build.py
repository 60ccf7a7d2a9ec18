"""Build a report: resolve the scope, then run every aggregate in one read-only snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator.limiter.scopes import burst_cap
from orchestrator.reports.counts import add_attempts, add_contacts
from orchestrator.reports.fields import add_fields
from orchestrator.reports.filters import Filters
from orchestrator.reports.model import Report
from orchestrator.reports.outcomes import add_outcomes
from orchestrator.reports.pricing import Price, load_price
from orchestrator.reports.scope import ReportScope
from orchestrator.reports.utilization import add_utilization
from orchestrator.settings import Settings
from orchestrator.store import campaigns
from orchestrator.store.engine import Database
from orchestrator.store.types import utcnow


@dataclass(frozen=True)
class ReportConfig:
    """What a report needs from the settings: the price list and the concurrency limits."""

    price: Price | None = None
    limit: int | None = None
    burst_cap: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ReportConfig:
        """Read the plan's price and limits.

        Raises:
            PricingError: the pricing file is malformed or lacks the plan.
        """
        return cls(
            price=load_price(settings.pricing_file, settings.plan),
            limit=settings.account_limit,
            burst_cap=burst_cap(settings),
        )


async def build_report(
    db: Database, scope: ReportScope, config: ReportConfig, *, now: datetime | None = None
) -> Report:
    """Every figure of the report for `scope`.

    Raises:
        NotFound: the scope names a campaign that does not exist.
    """
    moment = now or utcnow()
    async with db.read() as s:
        campaign_id = None
        if scope.campaign is not None:
            campaign_id = (await campaigns.get_by_name(s, scope.campaign)).id
        filters = Filters(campaign_id=campaign_id, since=scope.since, until=scope.until)
        report = Report(
            scope=scope.as_dict(),
            title=scope.describe(),
            generated_at=moment.isoformat(timespec="seconds"),
            campaign=scope.campaign,
        )
        await add_contacts(s, filters, report)
        await add_attempts(s, filters, report)
        await add_outcomes(s, filters, report, config.price)
        await add_fields(s, filters, report)
        await add_utilization(
            s, filters, report, limit=config.limit, burst_cap=config.burst_cap, now=moment
        )
        return report
