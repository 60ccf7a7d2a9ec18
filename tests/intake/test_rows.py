"""One contact row validated the same way whether it came as CSV text or as JSON."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain.campaign_policy import CampaignPolicy
from orchestrator.domain.persona import Persona
from orchestrator.errors import CsvRefused, ValidationFailed
from orchestrator.intake.rows import ContactRow, RowRules, validate_row
from orchestrator.intake.text_rows import TextRows
from orchestrator.settings import Settings
from tests.conftest import AGENT

PERSONAS = {
    "calm": Persona(agent_id=AGENT, first_message="Hi {{customer_name}}", voice_id="v1"),
    "loud": Persona(agent_id=AGENT, prompt="Shout.", speed=1.2),
    "elsewhere": Persona(agent_id="agent_other", voice_id="v2"),
}


@pytest.fixture
def rules(settings: Settings) -> RowRules:
    keyed = settings.model_copy(update={"personas": PERSONAS, "secret_keys": ["k"]})
    policy = CampaignPolicy(allowed_overrides=["first_message", "voice", "language"])
    return RowRules.for_campaign(keyed, AGENT, policy)


def problems(raw: dict[str, Any], rules: RowRules) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as info:
        validate_row(raw, rules)
    return dict(info.value.problems)


def row(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "external_id": "crm-1",
        "phone_number": "+14155550123",
        "variables": {"customer_name": "Ada"},
    }
    return {**base, **fields}


# --- JSON rows ------------------------------------------------------------------------------


def test_a_json_row_is_normalised(rules: RowRules) -> None:
    rules = RowRules(**{**rules.__dict__, "default_region": "US"})
    given = validate_row(
        {
            "external_id": "  crm-1 ",
            "phone_number": "(415) 555-0123",
            "timezone": " America/Los_Angeles ",
            "persona": " calm ",
            "variables": {"customer_name": "Ada", "visits": 2, "vip": "true", "note": ""},
            "overrides": {"agent": {"language": "pt-br", "first_message": ""}},
        },
        rules,
    )
    assert given == ContactRow(
        external_id="crm-1",
        phone_number="+14155550123",
        timezone="America/Los_Angeles",
        persona="calm",
        variables={"customer_name": "Ada", "visits": 2, "vip": True},
        overrides={"agent": {"language": "pt-br"}},
        # Every contact field given; `note` given empty: the row removes it from a known contact.
        given=frozenset({"phone_number", "timezone", "persona", "overrides"}),
        removes=frozenset({"note"}),
    )


def test_numeric_external_ids_are_text(rules: RowRules) -> None:
    assert validate_row(row(external_id=42), rules).external_id == "42"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"external_id": ""}, "external_id"),
        ({"external_id": "x" * 201}, "external_id"),
        ({"phone_number": "not-a-phone"}, "phone_number"),
        ({"phone_number": "4155550123"}, "phone_number"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"variables": ["Ada"]}, "variables"),
        ({"variables": {"customer_name": "Ada", "tags": ["a"]}}, "variables.tags"),
        ({"variables": {"customer_name": "Ada", "system__x": 1}}, "variables.system__x"),
        ({"persona": "nobody"}, "persona"),
        ({"persona": "elsewhere"}, "persona"),
        ({"persona": "loud"}, "persona"),
        ({"overrides": {"tts": {"speed": 1.0}}}, "overrides.tts.speed"),
        ({"overrides": {"agent": {"tools": []}}}, "overrides.agent.tools"),
        ({"overrides": "x"}, "overrides"),
        ({"name": "Ada"}, "name"),
    ],
)
def test_each_problem_names_its_field(rules: RowRules, fields: dict[str, Any], field: str) -> None:
    found = problems(row(**fields), rules)
    assert field in found, found
    assert all(found.values())


@pytest.mark.parametrize(
    "variables", [{}, {"Customer_Name": "Ada"}, {"customer_name": None}, {"customer_name": ""}]
)
def test_a_required_variable_the_row_lacks_is_left_to_the_stored_contact(
    rules: RowRules, variables: dict[str, Any]
) -> None:
    # A known contact may hold it already: whether it does is checked when the row is applied.
    checked = validate_row(row(variables=variables), rules)
    assert checked.needs == ("customer_name",)
    assert "customer_name" not in checked.variables


def test_a_row_gives_only_the_fields_it_names(rules: RowRules) -> None:
    bare = validate_row({"external_id": "crm-1"}, rules)
    assert (bare.phone_number, bare.given, bare.removes) == (None, frozenset(), frozenset())
    some = validate_row(
        {"external_id": "crm-1", "timezone": None, "variables": {"visits": 2, "vip": None}}, rules
    )
    assert some.given == {"timezone"} and some.removes == {"vip"}
    assert some.variables == {"visits": 2}


def test_unknown_persona_lists_the_agents_personas(rules: RowRules) -> None:
    reason = problems(row(persona="nobody"), rules)["persona"]
    assert "unknown persona 'nobody'" in reason and "calm" in reason


def test_a_persona_overriding_what_the_campaign_does_not_allow_is_refused(
    rules: RowRules,
) -> None:
    reason = problems(row(persona="loud"), rules)["persona"]
    assert "prompt" in reason and "tts" in reason and "allowed_overrides" in reason


def test_every_problem_of_a_row_is_reported_at_once(rules: RowRules) -> None:
    found = problems(
        row(external_id="", phone_number="nope", timezone="Nowhere/Zone", persona="nobody"),
        rules,
    )
    assert set(found) == {"external_id", "phone_number", "timezone", "persona"}


def test_variables_provided_elsewhere_are_not_required(settings: Settings) -> None:
    policy = CampaignPolicy(default_variables={"customer_name": "friend"})
    rules = RowRules.for_campaign(settings, AGENT, policy)
    assert validate_row(row(variables={}), rules).variables == {}


def test_objects_are_json_encoded_when_the_campaign_opts_in(settings: Settings) -> None:
    rules = RowRules.for_campaign(settings, AGENT, CampaignPolicy(encode_objects=True))
    given = validate_row(row(variables={"customer_name": "Ada", "tags": ["a", 1]}), rules)
    assert given.variables["tags"] == '["a",1]'


def test_secrets_without_a_key_are_refused(settings: Settings) -> None:
    rules = RowRules.for_campaign(settings, AGENT, CampaignPolicy())
    found = problems(row(variables={"customer_name": "Ada", "secret__pin": "9"}), rules)
    assert "ORCH_SECRET_KEYS" in found["variables.secret__pin"]


@given(st.integers(min_value=10_000, max_value=99_999))
def test_a_secret_value_never_appears_in_a_refusal(secret: int) -> None:
    settings = Settings(
        _env_file=None,
        agents={"a": {"variables": {"secret__pin": {"type": "integer"}}}},
        secret_keys=["k"],
    )
    rules = RowRules.for_campaign(settings, "a", CampaignPolicy())
    text = f"{secret}x"
    with pytest.raises(ValidationFailed) as info:
        validate_row(row(variables={"secret__pin": text}), rules)
    assert text not in str(info.value) and str(secret) not in str(info.value)


# --- CSV rows -------------------------------------------------------------------------------

HEADER = ["external_id", "phone_number", "timezone", "persona", "customer_name", "visits", "vip"]


def csv_row(rules: RowRules, **cells: str) -> ContactRow:
    values = {"external_id": "crm-1", "phone_number": "+14155550123", "customer_name": "Ada"}
    values.update(cells)
    return TextRows(HEADER, rules).parse([values.get(h, "") for h in HEADER])


def csv_problems(rules: RowRules, **cells: str) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as info:
        csv_row(rules, **cells)
    return dict(info.value.problems)


def test_csv_cells_are_coerced_to_the_declared_types(rules: RowRules) -> None:
    parsed = csv_row(rules, visits="3", vip="Yes", persona="calm", timezone="Europe/London")
    assert parsed.variables == {"customer_name": "Ada", "visits": 3, "vip": True}
    assert (parsed.persona, parsed.timezone) == ("calm", "Europe/London")


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        ({"visits": "many"}, "visits"),
        ({"vip": "perhaps"}, "vip"),
        ({"customer_name": ""}, "customer_name"),
        ({"persona": "nobody"}, "persona"),
        ({"phone_number": "123"}, "phone_number"),
    ],
)
def test_csv_problems_name_the_column(rules: RowRules, cells: dict[str, str], field: str) -> None:
    assert field in csv_problems(rules, **cells)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (["external_id", "customer_name"], "phone_number"),
        (["external_id", "phone_number"], "customer_name"),
        (["external_id", "phone_number", "customer_name", "customer_name"], "duplicate"),
        (["", ""], "no header"),
    ],
)
def test_a_header_that_cannot_work_is_refused_before_any_row(
    rules: RowRules, header: list[str], message: str
) -> None:
    with pytest.raises(CsvRefused, match=message):
        TextRows(header, rules)


def test_json_and_csv_give_the_same_row(rules: RowRules) -> None:
    from_json = validate_row(
        row(variables={"customer_name": "Ada", "visits": 3, "vip": True}, persona="calm"), rules
    )
    from_csv = csv_row(rules, visits="3", vip="true", persona="calm")
    # The same contact; what each leaves untouched on a known one differs (a file speaks for
    # its columns, a JSON row for its keys).
    assert from_json[:6] == from_csv[:6]
