"""Policies that could never call anyone are refused when created, with field and reason."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.domain.campaign_policy import CampaignPolicy, policy_of, window_problem
from orchestrator.domain.windows.rules import LegalBounds


def problems(config: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        CampaignPolicy.model_validate(config)
    return [(tuple(e["loc"]), e["msg"]) for e in caught.value.errors()]


def test_defaults_are_a_valid_policy() -> None:
    policy = policy_of(None)
    assert policy.calling_hours.start == time(9)
    assert policy.burst.mode == "off"
    assert policy.enforce_calling_hours


def test_hours_outside_the_legal_bounds_are_refused_on_calling_hours() -> None:
    [(loc, msg)] = problems({"calling_hours": {"start": "06:00", "end": "07:45"}})
    assert loc == ("calling_hours",)
    assert "06:00–07:45" in msg and "08:00–21:00" in msg and "never opens" in msg


def test_hours_outside_the_law_pass_when_not_enforced_since_the_law_still_applies() -> None:
    policy = CampaignPolicy.model_validate(
        {"calling_hours": {"start": "06:00", "end": "07:45"}, "enforce_calling_hours": False}
    )
    assert not policy.enforce_calling_hours


def test_a_date_range_without_a_calling_day_is_refused_on_end_date() -> None:
    [(loc, msg)] = problems(
        {
            "start_date": "2025-03-08",
            "end_date": "2025-03-09",
            "calling_hours": {"days": ["mon", "tue", "wed", "thu", "fri"]},
        }
    )
    assert loc == ("end_date",)
    assert "no day from 2025-03-08 to 2025-03-09" in msg


def test_end_before_start_is_refused() -> None:
    [(_, msg)] = problems({"start_date": "2025-03-10", "end_date": "2025-03-01"})
    assert "end_date is before start_date" in msg


@pytest.mark.parametrize(
    ("config", "loc", "fragment"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, ("timezone",), "unknown IANA time zone"),
        ({"burst": {"mode": "sometimes"}}, ("burst", "mode"), "'off', 'on', 'deadline'"),
        ({"burst": {"mode": "budget"}}, ("burst",), "needs max_burst_calls_per_day"),
        ({"calling_hours": {"days": []}}, ("calling_hours", "days"), "at least one day"),
        ({"calling_hours": {"days": [7]}}, ("calling_hours", "days", 0), "0 = Monday"),
        ({"calling_hours": {"start": "20:00", "end": "09:00"}}, ("calling_hours",), "end must"),
        ({"retry": {"delay_secs": {"ringing": 5}}}, ("retry", "delay_secs"), "unknown outcome"),
        ({"max_concurrency": 0}, ("max_concurrency",), "greater than or equal to 1"),
        ({"curfew": True}, ("curfew",), "Extra inputs"),
    ],
)
def test_bad_input_names_the_field_and_reason(
    config: dict[str, Any], loc: tuple[str, ...], fragment: str
) -> None:
    found = problems(config)
    assert any(where == loc and fragment in m for where, m in found), found


def test_day_names_and_numbers_are_the_same() -> None:
    by_name = CampaignPolicy.model_validate({"calling_hours": {"days": ["Mon", "wednesday"]}})
    assert by_name.calling_hours.days == [0, 2]


def test_window_problem_uses_configured_legal_defaults() -> None:
    policy = CampaignPolicy.model_validate({"calling_hours": {"start": "19:00", "end": "20:30"}})
    assert window_problem(policy, LegalBounds()) is None
    stricter = LegalBounds(default_start=time(9), default_end=time(18))
    found = window_problem(policy, stricter)
    assert found is not None and found[0] == "calling_hours"


@pytest.mark.parametrize(
    ("config", "loc"),
    [
        ({"calling_hours": {"days": [True]}}, ("calling_hours", "days", 0)),
        ({"retry": {"max_attempts": True}}, ("retry", "max_attempts")),
        ({"retry": {"delay_secs": {"busy": True}}}, ("retry", "delay_secs", "busy")),
        ({"max_concurrency": True}, ("max_concurrency",)),
        ({"agent_concurrency_limit": False}, ("agent_concurrency_limit",)),
        (
            {"burst": {"mode": "budget", "max_burst_calls_per_day": True}},
            ("burst", "max_burst_calls_per_day"),
        ),
    ],
)
def test_booleans_are_not_numbers(config: dict[str, Any], loc: tuple[Any, ...]) -> None:
    found = problems(config)
    assert any(where == loc and "boolean" in m for where, m in found), found


@pytest.mark.parametrize(
    "days", [["Monkey"], ["sunshine"], ["mo"], ["1"], ["weekday"], [1.5], ["thurs "]]
)
def test_day_names_must_be_names_of_days(days: list[Any]) -> None:
    found = problems({"calling_hours": {"days": days}})
    assert found and all(loc[:2] == ("calling_hours", "days") for loc, _ in found), found
    assert any("mon" in m and "Monday" in m for _, m in found), found


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (["mon", "Tue", "WED", "thursday", "Friday", "sat", "SUNDAY"], [0, 1, 2, 3, 4, 5, 6]),
        ([0, 6], [0, 6]),
        (["sun", 0, "monday"], [0, 6]),
    ],
)
def test_day_names_and_numbers_are_read_alike(days: list[Any], expected: list[int]) -> None:
    assert CampaignPolicy.model_validate({"calling_hours": {"days": days}}).calling_hours.days == (
        expected
    )


def test_the_days_field_documents_its_numbering() -> None:
    schema = CampaignPolicy.model_json_schema()
    days = schema["$defs"]["CallingHours"]["properties"]["days"]
    assert "0 = Monday" in days["description"] and "6 = Sunday" in days["description"]
    assert "mon" in days["description"]


def test_an_end_date_in_the_past_says_so_without_a_none() -> None:
    [(loc, msg)] = problems({"end_date": "2020-01-01"})
    assert loc == ("end_date",)
    assert "None" not in msg and "2020-01-01" in msg


@pytest.mark.parametrize(
    ("config", "loc"),
    [
        ({"start_date": "9999-12-31"}, ("start_date",)),
        ({"end_date": "9999-12-31"}, ("end_date",)),
        ({"start_date": "0001-01-01"}, ("start_date",)),
        ({"retry": {"delay_secs": {"busy": 1e300}}}, ("retry", "delay_secs", "busy")),
        ({"max_concurrency": 10**24}, ("max_concurrency",)),
        ({"agent_concurrency_limit": 10**24}, ("agent_concurrency_limit",)),
        (
            {"burst": {"mode": "budget", "max_burst_calls_per_day": 10**24}},
            ("burst", "max_burst_calls_per_day"),
        ),
        (
            {"burst": {"mode": "budget", "max_extra_credits_per_day": 1e300}},
            ("burst", "max_extra_credits_per_day"),
        ),
    ],
)
def test_far_dates_and_huge_numbers_are_refused_naming_the_field(
    config: dict[str, Any], loc: tuple[Any, ...]
) -> None:
    found = problems(config)
    assert any(where == loc for where, _ in found), found
