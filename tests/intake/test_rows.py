"""One contact row validated the same way whether it came as CSV text or as JSON."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.errors import ValidationFailed
from orchestrator.intake.rows import ContactRow, validate_row
from orchestrator.settings import AgentConfig, Settings


@pytest.fixture
def agent(settings: Settings) -> AgentConfig:
    return settings.agent("agent_test")


def problems(raw: dict[str, Any], agent: AgentConfig, **kw: Any) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as info:
        validate_row(raw, agent, **kw)
    return dict(info.value.problems)


def csv_row(**cells: str) -> dict[str, str]:
    base = {
        "external_id": "crm-1",
        "phone_number": "+1 415 555 0123",
        "timezone": "",
        "persona": "",
        "customer_name": "Ada",
        "balance": "",
        "visits": "",
        "vip": "",
    }
    return {**base, **cells}


def test_a_json_row_is_normalised(agent: AgentConfig) -> None:
    row = validate_row(
        {
            "external_id": "  crm-1 ",
            "phone_number": "(415) 555-0123",
            "timezone": " America/Los_Angeles ",
            "persona": " calm ",
            "variables": {"customer_name": "Ada", "visits": 2, "vip": "true", "note": ""},
        },
        agent,
        default_region="US",
    )
    assert row == ContactRow(
        external_id="crm-1",
        phone_number="+14155550123",
        timezone="America/Los_Angeles",
        persona="calm",
        variables={"customer_name": "Ada", "visits": 2, "vip": True},
    )


def test_csv_cells_are_coerced_to_the_declared_types(agent: AgentConfig) -> None:
    row = validate_row(
        csv_row(balance="12.50", visits="3", vip="Yes", extra_note="hello"),
        agent,
        variables_from_text=True,
    )
    assert row.variables == {
        "customer_name": "Ada",
        "balance": 12.5,
        "visits": 3,
        "vip": True,
        "extra_note": "hello",
    }
    assert row.timezone is None and row.persona is None


def test_reserved_columns_are_not_variables(agent: AgentConfig) -> None:
    row = validate_row(
        csv_row(timezone="Europe/London", persona="brisk"), agent, variables_from_text=True
    )
    assert set(row.variables) == {"customer_name"}
    assert (row.timezone, row.persona) == ("Europe/London", "brisk")


@pytest.mark.parametrize("external_id", ["", "   "])
def test_external_id_is_required(agent: AgentConfig, external_id: str) -> None:
    assert problems(csv_row(external_id=external_id), agent, variables_from_text=True) == {
        "external_id": "required"
    }


def test_external_id_has_a_length_limit(agent: AgentConfig) -> None:
    assert "external_id" in problems(
        csv_row(external_id="x" * 201), agent, variables_from_text=True
    )


@pytest.mark.parametrize("phone", ["", "not-a-phone", "+1415555", "4155550123"])
def test_invalid_phone_numbers_are_refused(agent: AgentConfig, phone: str) -> None:
    assert "phone_number" in problems(csv_row(phone_number=phone), agent, variables_from_text=True)


def test_default_region_allows_national_numbers(agent: AgentConfig) -> None:
    row = validate_row(
        csv_row(phone_number="020 7946 0018"), agent, variables_from_text=True, default_region="GB"
    )
    assert row.phone_number == "+442079460018"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "EST5EDT-nope"])
def test_unknown_time_zones_are_refused(agent: AgentConfig, zone: str) -> None:
    found = problems(csv_row(timezone=zone), agent, variables_from_text=True)
    assert "unknown IANA time zone" in found["timezone"]


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        ({"visits": "many"}, "visits"),
        ({"visits": "2.5"}, "visits"),
        ({"balance": "lots"}, "balance"),
        ({"vip": "perhaps"}, "vip"),
        ({"system__x": "1"}, "system__x"),
        ({"bad name": "1"}, "bad name"),
        ({"customer_name": ""}, "customer_name"),
    ],
)
def test_csv_problems_name_the_column(
    agent: AgentConfig, cells: dict[str, str], field: str
) -> None:
    assert field in problems(csv_row(**cells), agent, variables_from_text=True)


def test_every_problem_of_a_row_is_reported(agent: AgentConfig) -> None:
    found = problems(
        csv_row(external_id="", phone_number="nope", timezone="Nowhere/Zone", visits="x"),
        agent,
        variables_from_text=True,
    )
    assert set(found) == {"external_id", "phone_number", "timezone", "visits"}


def test_json_variable_problems_are_prefixed(agent: AgentConfig) -> None:
    found = problems(
        {"external_id": "crm-1", "phone_number": "+14155550123", "variables": {"tags": ["a"]}},
        agent,
    )
    assert set(found) == {"variables.tags", "variables.customer_name"}


def test_json_variables_must_be_an_object(agent: AgentConfig) -> None:
    found = problems(
        {"external_id": "crm-1", "phone_number": "+14155550123", "variables": ["Ada"]}, agent
    )
    assert found["variables"] == "must be an object of name → value"
