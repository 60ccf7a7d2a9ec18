"""The campaign report by name: the entry point the demo and older callers use."""

from __future__ import annotations

from orchestrator.reports.build import ReportConfig, build_report
from orchestrator.reports.model import Report
from orchestrator.reports.scope import make_scope
from orchestrator.store.engine import Database

#: The report of one campaign is the general report with a campaign scope.
CampaignReport = Report


async def campaign_report(
    db: Database, name: str, config: ReportConfig | None = None
) -> CampaignReport:
    """Build the report of the campaign called `name` (without prices or limits by default).

    Raises:
        NotFound: no such campaign.
    """
    return await build_report(db, make_scope(name), config or ReportConfig())
