"""The report's figures against a campaign whose every number is known by hand."""

from __future__ import annotations

import pytest

from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.reports.build import ReportConfig, build_report
from orchestrator.reports.model import Report
from orchestrator.reports.pricing import Price
from orchestrator.reports.scope import make_scope
from orchestrator.store.engine import Database
from tests.reports.conftest import T0, Known, seed

PRICE = Price("creator", usd_per_credit=0.001)
CONFIG = ReportConfig(price=PRICE, limit=2, burst_cap=6)


async def _report(db: Database, campaign: str | None = "spring", **bounds: str) -> Report:
    return await build_report(db, make_scope(campaign, **bounds), CONFIG, now=T0)


async def test_counts_and_rates(db: Database, known: Known) -> None:
    report = await _report(db)
    assert report.contacts == 7
    assert report.contacts_final == 6  # the scheduled contact is pending
    assert report.dispositions == {
        "reached": 2,
        "do_not_call": 1,
        "voicemail": 1,
        "unreachable": 2,
        "pending": 1,
    }
    assert report.reached_detail == {"success": 2}
    assert report.attempts == 7
    assert report.attempts_by_state["scheduled"] == 1
    assert report.dials == 6
    assert report.answered == 3
    assert report.voicemails == 1
    assert report.successes == 2
    assert report.transfers == 1
    assert report.opt_outs == 1
    assert report.answer_rate == 0.5
    assert report.voicemail_rate == round(1 / 6, 4)
    assert report.reach_rate == round(2 / 7, 4)
    assert report.success_rate == round(2 / 3, 4)
    assert report.attempts_per_contact == 1.0
    assert report.attempts_per_contact_distribution == {"0": 1, "1": 6}


async def test_durations_are_nearest_rank_over_connected_calls(db: Database, known: Known) -> None:
    d = (await _report(db)).durations
    assert d.calls == 4  # three conversations and a voicemail
    assert d.total_secs == 230.0
    assert d.p50_secs == 30.0  # sorted 20, 30, 60, 120: rank ceil(0.5 × 4) = 2
    assert d.p90_secs == 120.0


async def test_costs_use_fiat_where_given_and_the_price_elsewhere(
    db: Database, known: Known
) -> None:
    c = (await _report(db)).costs
    assert c.credits == 2300.0
    assert c.fiat_calls == 1
    assert c.priced_calls == 3
    # 0.05 from the provider + (400 + 1600 + 100) credits × 0.001
    assert c.usd == pytest.approx(0.05 + 2.1, abs=1e-4)
    assert c.credits_per_reached_contact == 1150.0
    assert c.usd_per_reached_contact == pytest.approx((0.05 + 2.1) / 2, abs=1e-4)
    assert c.burst_calls == 1
    assert c.burst_credits == 1600.0
    assert c.burst_surcharge_credits == 800.0  # the 2× is in the cost: half is surcharge
    assert c.burst_surcharge_usd == pytest.approx(0.8, abs=1e-4)


async def test_per_minute_price_counts_burst_minutes_twice(db: Database, known: Known) -> None:
    config = ReportConfig(price=Price("x", usd_per_minute=0.1))
    c = (await build_report(db, make_scope("spring"), config, now=T0)).costs
    # unpriced: 60 s + 120 s (burst, ×2) + 20 s = 320 s; plus the 0.05 the provider gave
    assert c.usd == pytest.approx(0.05 + 320 / 60 * 0.1, abs=1e-4)
    assert c.burst_surcharge_usd == pytest.approx(240 / 60 * 0.1 / 2, abs=1e-4)


async def test_without_a_price_dollars_are_only_the_providers(db: Database, known: Known) -> None:
    report = await build_report(db, make_scope("spring"), ReportConfig(), now=T0)
    assert report.costs.usd == pytest.approx(0.05, abs=1e-4)
    assert report.costs.price is None


async def test_data_collection_and_evaluation(db: Database, known: Known) -> None:
    report = await _report(db)
    interest = report.data_collection["interest"]
    assert interest.values == {"high": 2, "low": 1}
    assert interest.count == 3 and interest.distinct_values == 2 and interest.other_values == 0
    assert report.data_collection["opt_out"].values == {"false": 1, "true": 1}
    budget = report.data_collection["budget"].numbers
    assert budget is not None
    assert (budget.count, budget.mean, budget.min, budget.max) == (2, 200.0, 100.0, 300.0)
    assert (budget.p50, budget.p90) == (100.0, 300.0)
    greeting = report.evaluation["greeting"]
    assert (greeting.success, greeting.failure, greeting.unknown) == (2, 1, 0)
    assert greeting.pass_rate == round(2 / 3, 4)


async def test_hours_in_local_time_with_unknown_apart(db: Database, known: Known) -> None:
    hours = {h.hour: (h.dials, h.answered) for h in (await _report(db)).by_hour}
    assert hours[9] == (2, 2)
    assert hours[10] == (2, 1)
    assert hours[11] == (1, 0)
    assert hours[None] == (1, 0)
    assert hours[12] == (0, 0)


async def test_utilization_counts_calls_in_flight(db: Database, known: Known) -> None:
    u = (await _report(db)).utilization
    assert (u.limit, u.burst_cap) == (2, 6)
    # Dials start a minute apart; the 120 s call overlaps the next one or two.
    assert u.bucket_secs == 5
    assert u.peak == 2
    assert u.in_flight[0] == 1
    assert u.in_flight[-1] == 0
    assert len(u.times) == len(u.in_flight) <= 122


async def test_range_covers_calls_dialled_in_it_across_campaigns(
    db: Database, known: Known
) -> None:
    await seed(db, "autumn", start=T0.replace(month=9))
    whole = await _report(db, None)
    assert whole.dials == 12
    march = await _report(db, None, since="2025-03-01", until="2025-03-31")
    assert march.dials == 6
    assert march.contacts == 6  # contacts dialled in the range; the never-dialled one is out
    assert march.costs.credits == 2300.0
    assert march.data_collection["interest"].count == 3
    # The first three dials only (14:00, 14:01, 14:02).
    early = await _report(db, "spring", since="2025-03-04T14:00:00Z", until="2025-03-04T14:02:30")
    assert early.dials == 3
    assert early.successes == 2


async def test_unknown_campaign_raises(db: Database) -> None:
    with pytest.raises(NotFound):
        await _report(db, "nope")


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [
        ("yesterday", None, "since"),
        (None, "2025-13-01", "until"),
        ("2025-03-05", "2025-03-01", "until"),
    ],
)
def test_bad_ranges_name_the_field(since: str | None, until: str | None, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        make_scope(None, since, until)
    assert [f for f, _ in caught.value.problems] == [field]


def test_a_single_day_is_a_whole_day() -> None:
    scope = make_scope(None, "2025-03-04", "2025-03-04")
    assert scope.since is not None and scope.until is not None
    assert (scope.until - scope.since).total_seconds() == 86400


async def test_json_keeps_the_keys_scripts_read(db: Database, known: Known) -> None:
    data = (await _report(db)).to_dict()
    for key in (
        "contacts",
        "contacts_final",
        "all_final",
        "dispositions",
        "attempts_by_state",
        "dials",
        "answered",
        "successes",
        "voicemails",
        "answer_rate",
        "reach_rate",
        "success_rate",
        "voicemail_rate",
        "definitions",
        "credits",
        "burst_calls",
    ):
        assert key in data
    assert data["evaluation"]["greeting"]["pass_rate"] == round(2 / 3, 4)
