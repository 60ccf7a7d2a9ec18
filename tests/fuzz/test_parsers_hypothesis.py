"""Hypothesis over the code that reads outside input: the CSV import, the variable rules and agent
declarations, the post-call webhook's envelope and signature, the outcome reducers, and the
personalization request.

Each parser either answers or raises its own refusal (`CsvRefused`, `ValidationFailed`,
`SignatureError`, `PersonalizationRefused`) — never anything else — and what it answers obeys
the documented rules. Known bugs are pinned by `xfail(strict=True)` tests with an explicit failing
example; the general tests step around exactly those inputs (each place says which test pins it).
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import phonenumbers
import pytest
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError
from sqlmodel import select

from orchestrator.domain import signing
from orchestrator.domain.attempt import AttemptState
from orchestrator.domain.initiation import compose_initiation
from orchestrator.domain.outcome import (
    facts_from_conversation,
    facts_from_initiation_failure,
    facts_from_twilio_status,
)
from orchestrator.domain.overrides import BY_PATH, flatten
from orchestrator.domain.phone import is_e164
from orchestrator.domain.text import shown, text_problem, text_problems
from orchestrator.domain.variables import (
    AgentConfig,
    AgentVariable,
    check_name,
    clean_variables,
    is_secret,
)
from orchestrator.errors import PersonalizationRefused, SignatureError, ValidationFailed
from orchestrator.intake.csv_import import CsvRefused, ImportSummary, import_csv
from orchestrator.intake.rows import ContactRow, RowRules
from orchestrator.intake.text_rows import TextRows
from orchestrator.personalization.request import Gate, InboundRequest
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.migrate import upgrade
from orchestrator.store.models import Campaign, Contact
from orchestrator.tracking.ingest import KNOWN_TYPES, parse_envelope

AGENT = "agent_fuzz"
#: Derandomized: the same examples on every run, so a failure in CI is reproducible and never a
#: fluke of the seed (each test's examples were also explored under several random seeds).
FAST = settings(max_examples=150, deadline=None, derandomize=True)
#: Each example imports a file into SQLite: fewer of them, and no shrinking (it would replay
#: imports for minutes); a failure is reported as generated (files of a few short rows).
DB_BOUND = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- strategies shared by the sections -----------------------------------------------------------

#: Text we can carry (what cannot is refused: tests/domain/test_text.py).
CARRIED = st.characters(blacklist_categories=("Cs", "Cc")).filter(lambda c: not text_problem(c))
LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12))
JSON = st.recursive(
    LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
JSON_OBJECT = st.dictionaries(st.text(max_size=10), JSON, max_size=5)

VARIABLE_NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-.]{0,10}", fullmatch=True).filter(
    lambda name: not name.startswith("system__")
)
TYPES = ("string", "number", "integer", "boolean")


def typed_values(kind: str) -> st.SearchStrategy[Any]:
    """Non-empty values of a declared type, as a declaration's default may hold them."""
    return {
        "string": st.text(CARRIED, min_size=1, max_size=10),
        # Numbers JSON carries exactly: beyond ±(2**53 - 1) a value is refused.
        "integer": st.integers(-(2**53 - 1), 2**53 - 1),
        "number": st.integers(-(2**53 - 1), 2**53 - 1) | st.floats(-(2**53 - 1), 2**53 - 1),
        "boolean": st.booleans(),
    }[kind]


def conforms(kind: str, value: Any) -> bool:
    """Whether `value` is a value of the declared type, as the provider types them."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int)
    return isinstance(value, int | float) and math.isfinite(value)


DECLARATION = st.sampled_from(TYPES).flatmap(
    lambda kind: st.builds(
        AgentVariable, type=st.just(kind), default=st.none() | typed_values(kind)
    )
)
AGENT_CONFIGS = st.builds(
    AgentConfig,
    variables=st.dictionaries(
        VARIABLE_NAME | st.sampled_from(["secret__pin", "customer_name"]), DECLARATION, max_size=4
    ),
)


def masked_value_leaks(name: str, value: Any, reason: str) -> bool:
    """Whether a refusal of `secret__` variable `name` shows its value in clear.

    Values made of the mask's own `*` are left out: masking cannot hide them from a search.
    """
    if not is_secret(name) or value is None or isinstance(value, dict | list):
        return False
    shown = str(value)
    return bool(shown) and "*" not in shown and shown in reason


# --- the CSV import ------------------------------------------------------------------------------

CSV_AGENT = AgentConfig(
    variables={
        "customer_name": AgentVariable(type="string"),
        "balance": AgentVariable(type="number", default=0),
        "visits": AgentVariable(type="integer", default=0),
        "vip": AgentVariable(type="boolean", default=False),
        "secret__pin": AgentVariable(type="integer", default=0),
    }
)
RULES = RowRules(agent_id=AGENT, agent=CSV_AGENT, default_region="US", secrets_enabled=True)
HEADER = [
    "external_id",
    "phone_number",
    "timezone",
    "persona",
    "customer_name",
    "balance",
    "visits",
    "vip",
    "secret__pin",
    "note",
]
REQUIRED = {"external_id", "phone_number", "customer_name"}


def _example_numbers() -> list[tuple[str, str]]:
    """(E.164, region) of the example number of every region `phonenumbers` knows."""
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        number = phonenumbers.example_number(region)
        if number is not None and phonenumbers.is_valid_number(number):
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            out.append((e164, region))
    return out


NUMBERS = _example_numbers()


@st.composite
def phone_forms(draw: st.DrawFn) -> tuple[str, str]:
    """(text as a CRM might hold it, its E.164): E.164, international, or US national."""
    e164, region = draw(st.sampled_from(NUMBERS))
    parsed = phonenumbers.parse(e164)
    forms = [e164, phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)]
    if region == "US":  # the import's default region
        forms.append(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL))
    text = draw(st.sampled_from(forms))
    return draw(st.sampled_from(["", " "])) + text + draw(st.sampled_from(["", "  "])), e164


REALISTIC_CELLS = st.one_of(
    phone_forms().map(lambda pair: pair[0]),
    st.sampled_from(["crm-1", "Europe/Paris", "Mars/Base", "true", "no", "maybe", "12", "1.5"]),
    st.sampled_from(["nan", "inf", "1e400", " 7 ", "", "   "]),
)
CELLS = st.one_of(REALISTIC_CELLS, st.text(max_size=12))


def mostly(usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` seven times in eight, else `other` (so some records pass every check)."""
    return st.integers(0, 7).flatmap(lambda i: other if i == 0 else usual)


#: Per column, mostly values that pass, sometimes anything.
COLUMN_CELLS = {
    "external_id": st.sampled_from(["crm-1", " crm-2 ", "Ünï-3"]),
    "phone_number": phone_forms().map(lambda pair: pair[0]),
    "timezone": st.sampled_from(["", "Europe/Paris", " America/Chicago "]),
    "persona": st.just(""),
    "customer_name": st.text(min_size=1, max_size=8),
    "balance": st.sampled_from(["", "1.5", "-3", " 2 ", "1e3"]),
    "visits": st.sampled_from(["", "12", " 7 ", "-1"]),
    "vip": st.sampled_from(["", "true", "No", "1", "Y"]),
    "secret__pin": st.sampled_from(["", "1234", " 42 "]),
    "note": st.text(max_size=8),
}
RECORDS = st.tuples(*[mostly(COLUMN_CELLS[name], CELLS) for name in HEADER]).map(list)
HEADERS_CSV = st.one_of(
    st.lists(st.sampled_from([*HEADER, " external_id ", ""]) | st.text(max_size=8)),
    st.tuples(
        st.lists(st.sampled_from(HEADER), unique=True),
        st.lists(st.sampled_from([" phone_number", "note", "system__x", ""]), max_size=2),
    ).map(lambda parts: parts[0] + parts[1]),
)


@given(header=HEADERS_CSV)
@FAST
def test_any_header_builds_a_parser_or_is_refused(header: list[str]) -> None:
    names = [h.strip() for h in header]
    expected = any(names) and set(names) >= REQUIRED and len(set(names)) == len(names)
    try:
        parser = TextRows(header, RULES)
    except CsvRefused:
        assert not expected, header
        return
    assert expected, header
    assert parser.width == len(header)


@given(
    cells=RECORDS,
    surplus=st.lists(CELLS, max_size=2),
    cut=st.integers(0, len(HEADER)),
)
@FAST
def test_any_record_is_a_valid_row_or_names_its_problems(
    cells: list[str], surplus: list[str], cut: int
) -> None:
    parser = TextRows(HEADER, RULES)
    record = cells[:cut] if cut < len(HEADER) // 2 else cells + surplus
    try:
        row = parser.parse(record)
    except ValidationFailed as exc:
        assert exc.problems
        for field, reason in exc.problems:
            assert field in HEADER or field == "(row)", field
            assert reason
            if field == "secret__pin":
                pin = record[HEADER.index("secret__pin")]
                assert not masked_value_leaks(field, pin, reason), reason
        masked = parser.masked(record)
        pin_at = HEADER.index("secret__pin")
        assert len(masked) == len(record)
        for i, (shown, cell) in enumerate(zip(masked, record, strict=True)):
            assert shown == ("***" if i == pin_at and cell else cell)
        return
    assert isinstance(row, ContactRow)
    assert len(record) <= len(HEADER)
    assert row.external_id == record[0].strip() and 0 < len(row.external_id) <= 200
    assert is_e164(row.phone_number)
    assert row.persona is None  # the rules know no persona
    for name, value in row.variables.items():
        declared = CSV_AGENT.variables.get(name)
        assert conforms(declared.type if declared else "string", value), (name, value)
        assert value != ""
    assert "customer_name" in row.variables


@dataclass(frozen=True)
class ImportTarget:
    """A migrated SQLite database and settings to import into."""

    settings: Settings
    folder: Path
    box: SecretBox
    counter: Iterator[int]

    def campaign(self) -> str:
        return f"csv-{next(self.counter)}"


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> ImportTarget:
    folder = tmp_path_factory.mktemp("fuzz-csv")
    key = SecretBox.generate_key()
    resolved = Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{folder / 'csv.db'}",
        agent_id=AGENT,
        agents={AGENT: CSV_AGENT},
        default_region="US",
        secret_keys=[SecretStr(key)],
        audio_dir=folder / "audio",
    )
    asyncio.run(upgrade(resolved.database_url))
    return ImportTarget(resolved, folder, SecretBox([key]), itertools.count())


async def _import(
    target: ImportTarget, content: bytes
) -> tuple[ImportSummary | CsvRefused, list[Contact]]:
    """Import `content` into a fresh campaign; its summary (or refusal) and its contacts."""
    name = target.campaign()
    path = target.folder / f"{name}.csv"
    path.write_bytes(content)
    db = Database(target.settings.database_url)
    try:
        try:
            summary: ImportSummary | CsvRefused = await import_csv(
                db, target.settings, path, name, create=True
            )
        except CsvRefused as exc:
            summary = exc
        async with db.read() as s:
            # A file refused whole creates no campaign.
            campaign = (await s.exec(select(Campaign).where(Campaign.name == name))).first()
            contacts = (
                list(
                    (await s.exec(select(Contact).where(Contact.campaign_id == campaign.id))).all()
                )
                if campaign is not None
                else []
            )
        return summary, contacts
    finally:
        await db.dispose()


def _csv_text(rows: Sequence[Sequence[str]], newline: str) -> str:
    out = io.StringIO()
    # QUOTE_MINIMAL quotes only the line terminator's characters: with "\n" a lone "\r" in a
    # cell would be written bare, and every CSV reader ends the line there.
    if newline == "\r\n":
        csv.writer(out, lineterminator=newline).writerows(rows)
    else:
        csv.writer(out, lineterminator=newline, quoting=csv.QUOTE_ALL).writerows(rows)
    return out.getvalue()


CSV_FILES = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda header, lines, newline: header + newline + newline.join(lines),
        st.sampled_from([",".join(HEADER), "external_id,phone_number,customer_name", "a,b"]),
        st.lists(st.lists(CELLS, max_size=11).map(",".join) | st.text(max_size=30), max_size=6),
        st.sampled_from(["\n", "\r\n", "\r"]),
    ),
    st.builds(
        _csv_text,
        st.lists(RECORDS | st.lists(CELLS, max_size=11), max_size=6).map(
            lambda rows: [HEADER, *rows]
        ),
        st.sampled_from(["\n", "\r\n"]),
    ),
)


@given(text=CSV_FILES)
@DB_BOUND
def test_any_utf8_file_imports_or_is_refused_by_its_header(target: ImportTarget, text: str) -> None:
    summary, contacts = asyncio.run(_import(target, text.encode()))
    if isinstance(summary, CsvRefused):
        assert not contacts
        return
    counted = summary.accepted + summary.updated + summary.unchanged + summary.rejected
    assert summary.rows == counted
    # Each refused record is reported at its own first line.
    assert len({e.line for e in summary.errors}) == summary.rejected, (text, summary.errors)
    lines = len(text.splitlines()) or 1
    assert all(2 <= e.line <= lines for e in summary.errors), (summary.errors, lines)
    assert len(contacts) == summary.accepted
    for contact in contacts:
        assert is_e164(contact.phone_number)
        for name, value in contact.variables.items():
            if is_secret(name):
                assert isinstance(value, str) and value.startswith("enc:")


VIP = {"true": True, "false": False, "Yes": True, " no ": False, "y": True, "N": False}
VIP |= {"1": True, "0": False, "TRUE": True}
ROUND_TRIP_HEADER = [
    "external_id", "phone_number", "timezone", "customer_name", "balance", "visits", "vip",
    "secret__token",
]  # fmt: skip


@dataclass(frozen=True)
class GoodRow:
    external_id: str
    phone: tuple[str, str]
    timezone: str
    name: str
    balance: float
    visits: int
    vip: str
    token: str

    def cells(self) -> list[str]:
        return [
            self.external_id,
            self.phone[0],
            self.timezone,
            self.name,
            repr(self.balance),
            str(self.visits),
            self.vip,
            self.token,
        ]

    def variables(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "customer_name": self.name,
            "balance": self.balance,
            "visits": self.visits,
            "vip": VIP[self.vip],
        }
        if self.token:
            out["secret__token"] = self.token
        return out


# Now and then a value that looks sealed: it must round-trip like any other.
TEXT_VALUE = st.text(CARRIED, min_size=1, max_size=20) | st.text(CARRIED, max_size=8).map(
    "enc:v1:".__add__
)
GOOD_ROWS = st.builds(
    GoodRow,
    external_id=st.sampled_from(["crm-1", "crm-2", "crm-3", "Ünïcode-4"]),
    phone=phone_forms(),
    timezone=st.sampled_from(["", "Europe/Paris", "America/Chicago"]),
    name=TEXT_VALUE,
    balance=st.floats(-(2**53 - 1), 2**53 - 1),
    visits=st.integers(-(10**15), 10**15),
    vip=st.sampled_from(sorted(VIP)),
    token=st.just("") | TEXT_VALUE,
)


@given(rows=st.lists(GOOD_ROWS, min_size=1, max_size=8), newline=st.sampled_from(["\n", "\r\n"]))
@DB_BOUND
def test_valid_rows_round_trip_and_duplicates_fold_into_the_last(
    target: ImportTarget, rows: list[GoodRow], newline: str
) -> None:
    text = _csv_text([ROUND_TRIP_HEADER, *(r.cells() for r in rows)], newline)
    summary, contacts = asyncio.run(_import(target, text.encode()))
    assert isinstance(summary, ImportSummary), summary
    last = {r.external_id: r for r in rows}
    assert (summary.rows, summary.rejected, summary.errors) == (len(rows), 0, [])
    assert (summary.accepted, summary.updated) == (len(last), 0)
    assert summary.unchanged == len(rows) - len(last)
    assert sorted(c.external_id for c in contacts) == sorted(last)
    for contact in contacts:
        row = last[contact.external_id]
        assert contact.phone_number == row.phone[1]
        assert contact.timezone == (row.timezone or None)
        assert target.box.open(contact.variables) == row.variables()
        if row.token:
            assert contact.variables["secret__token"].startswith("enc:v1:")


def test_a_file_that_is_not_utf8_is_refused_cleanly(target: ImportTarget) -> None:
    content = b"external_id,phone_number,customer_name\nx,+14155550123,Jos\xe9\n"
    summary, _contacts = asyncio.run(_import(target, content))
    assert isinstance(summary, ImportSummary | CsvRefused)


def test_a_cell_left_open_at_the_end_keeps_its_line_number(target: ImportTarget) -> None:
    content = b'external_id,phone_number,customer_name\nx,+14155550123,Ada\ny,bad,"Bob\nJr\n'
    summary, _contacts = asyncio.run(_import(target, content))
    assert isinstance(summary, ImportSummary) and summary.rejected == 1
    assert [e.line for e in summary.errors] == [3]


def test_an_oversized_cell_is_refused_cleanly(target: ImportTarget) -> None:
    content = b'external_id,phone_number,customer_name\nx,+14155550123,"' + b"a" * 140_000
    summary, _contacts = asyncio.run(_import(target, content))
    assert isinstance(summary, ImportSummary | CsvRefused)


@pytest.mark.parametrize("name", ["note", "secret__token"])
def test_a_value_that_looks_sealed_survives_being_stored(name: str) -> None:
    box = SecretBox([SecretBox.generate_key()])
    variables = {name: "enc:v1:hello"}
    sealed = box.seal(variables)
    if is_secret(name):
        assert sealed[name] != variables[name]
    assert box.open(sealed) == variables


# --- the variable rules and agent declarations ---------------------------------------------------


@st.composite
def variables_for(draw: st.DrawFn, agent: AgentConfig) -> dict[str, Any]:
    """Variables named as the agent declares them, or anyhow, with any JSON value."""
    names = st.sampled_from(sorted(agent.variables)) if agent.variables else VARIABLE_NAME
    any_name = st.one_of(
        names, VARIABLE_NAME, st.sampled_from(["system__x", "secret__pin", "9lives", "a b"]),
        st.text(max_size=6),
    )  # fmt: skip
    primitive = st.one_of(
        st.text(max_size=8),
        st.integers(),
        st.booleans(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(["", " 12 ", "yes", "1.5", "nan", "true"]),
    )
    value = mostly(primitive, JSON)
    return draw(st.dictionaries(any_name, value, max_size=5))


@given(data=st.data(), agent=AGENT_CONFIGS)
@FAST
def test_any_variables_validate_or_name_each_problem(
    data: st.DataObject, agent: AgentConfig
) -> None:
    variables = data.draw(variables_for(agent))
    provided = data.draw(st.sets(st.sampled_from(sorted(agent.variables) or ["x"])))
    try:
        cleaned = clean_variables(variables, agent, prefix="variables", provided=provided)
    except ValidationFailed as exc:
        assert exc.problems
        named = {f"variables.{shown(n)}": n for n in [*variables, *agent.variables]}
        for field, reason in exc.problems:
            # The variable, or a place inside its object (text we cannot carry is named there).
            at = next((f for f in named if field == f or field.startswith(f + ".")), None)
            assert at is not None and reason, (field, reason)
            name = named[at]
            assert not masked_value_leaks(name, variables.get(name), reason), reason
        return
    assert set(cleaned) <= set(variables)
    for name, value in cleaned.items():
        assert check_name(name) is None
        assert value is not None and value != ""
        declared = agent.variables.get(name)
        if declared is None:  # undeclared values are kept as given
            assert value == variables[name] and isinstance(value, str | int | float | bool)
        else:
            assert conforms(declared.type, value), (name, value)
    for name, declared in agent.variables.items():
        if declared.default is None and name not in provided:
            assert name in cleaned


@example(kind="integer", value=[1])
@given(kind=st.sampled_from(["integer", "number", "boolean"]), value=JSON)
@FAST
def test_encoding_objects_keeps_the_declared_type(kind: str, value: Any) -> None:
    agent = AgentConfig(variables={"visits": AgentVariable(type=kind)})
    try:
        cleaned = clean_variables({"visits": value}, agent, encode_objects=True)
    except ValidationFailed:
        return
    assert "visits" not in cleaned or conforms(kind, cleaned["visits"]), cleaned


@given(
    encode=st.booleans(),
    value=st.dictionaries(st.text(max_size=5), LEAF.filter(lambda v: v == v), max_size=3)
    | st.lists(st.integers(), max_size=3),
)
@FAST
def test_encoded_objects_are_the_json_of_the_value(encode: bool, value: Any) -> None:
    agent = AgentConfig()
    try:
        cleaned = clean_variables({"profile": value}, agent, encode_objects=encode)
    except ValidationFailed as exc:
        # Refused: an object not to be encoded, or one holding text we cannot carry.
        assert not encode or text_problems(value)
        assert exc.problems[0][0].startswith("dynamic_variables.profile")
        return
    assert encode and not text_problems(value)
    assert json.loads(str(cleaned["profile"])) == value


OVERRIDE_KEYS = st.sampled_from(
    ["agent", "prompt", "llm", "first_message", "language", "tts", "voice_id", "stability", "speed"]
)
OVERRIDES = st.recursive(
    LEAF, lambda inner: st.dictionaries(OVERRIDE_KEYS, inner, max_size=3), max_leaves=8
).filter(lambda v: isinstance(v, dict))
KINDS = st.sets(st.sampled_from(["prompt", "llm", "first_message", "language", "voice", "tts"]))


@given(data=st.data(), agent=AGENT_CONFIGS, overrides=OVERRIDES, allowed=KINDS)
@FAST
def test_compose_initiation_layers_any_json_or_names_each_problem(
    data: st.DataObject, agent: AgentConfig, overrides: dict[str, Any], allowed: set[str]
) -> None:
    layers = [data.draw(variables_for(agent)) for _ in range(4)]
    # The highest layer with a non-empty value wins; an empty one never hides a lower value.
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update({k: v for k, v in layer.items() if v is not None and v != ""})
    try:
        out = compose_initiation(
            agent=agent,
            user_id="crm-1",
            campaign_defaults=layers[0],
            context=layers[1],
            contact=layers[2],
            call=layers[3],
            overrides=[overrides],
            allowed_overrides=allowed,
        )
    except ValidationFailed as exc:
        assert exc.problems
        for field, reason in exc.problems:
            assert field.startswith(("dynamic_variables.", "conversation_config_override"))
            name = field.removeprefix("dynamic_variables.")
            assert not masked_value_leaks(name, merged.get(name), reason), reason
        return
    assert out["type"] == "conversation_initiation_client_data" and out["user_id"] == "crm-1"
    sent = out.get("dynamic_variables", {})
    for name, value in merged.items():
        declared = agent.variables.get(name)
        if declared is None:
            assert sent[name] == value  # secret__ ones too: the provider needs them (README)
        else:
            assert conforms(declared.type, sent[name]), (name, sent[name])
    for name, declared in agent.variables.items():
        assert name in sent
        if name not in merged:
            assert sent[name] == declared.default
    for path, leaf in flatten(out.get("conversation_config_override", {})):
        assert BY_PATH[path].kind in allowed
        assert leaf not in (None, "")


@example(raw={"variables": {"visits": {"type": "integer", "default": "many"}}})
@example(raw={"variables": {"note": {"default": ""}}})
@example(raw={"variables": {"system__x": {"default": "x"}}})
@given(
    raw=st.fixed_dictionaries(
        {
            "variables": st.dictionaries(
                VARIABLE_NAME | st.text(max_size=5),
                st.fixed_dictionaries(
                    {}, optional={"type": st.sampled_from(TYPES), "default": JSON}
                ),
                max_size=3,
            )
        }
    )
)
@FAST
def test_agent_declarations_are_held_to_the_variable_rules(raw: dict[str, Any]) -> None:
    try:
        agent = AgentConfig.model_validate(raw)
    except PydanticValidationError:
        return
    refused = [
        (name, declared)
        for name, declared in agent.variables.items()
        if check_name(name) is not None
        or declared.default == ""
        or (declared.default is not None and not conforms(declared.type, declared.default))
    ]
    assert not refused


# --- the post-call webhook: envelope and signature -----------------------------------------------

ENVELOPES = st.fixed_dictionaries(
    {
        "type": mostly(st.sampled_from(KNOWN_TYPES), st.just("post_call") | JSON),
        "data": mostly(
            JSON_OBJECT.flatmap(
                lambda d: st.fixed_dictionaries(
                    {"conversation_id": mostly(st.text(max_size=8), st.none() | st.integers())}
                ).map(lambda extra: {**d, **extra})
            ),
            JSON,
        ),
    },
    optional={"event_timestamp": mostly(st.integers(0, 2**40), JSON)},
)
BODIES = st.one_of(
    st.binary(max_size=64),
    JSON.map(lambda v: json.dumps(v).encode()),
    ENVELOPES.map(lambda v: json.dumps(v).encode()),
)


@given(body=BODIES)
@FAST
def test_any_webhook_body_is_an_envelope_or_refused(body: bytes) -> None:
    try:
        event_type, conversation_id, ts, data = parse_envelope(body)
    except ValidationFailed as exc:
        assert exc.problems and exc.problems[0][0] in (
            "body",
            "type",
            "data",
            "data.conversation_id",
        )
        return
    payload = orjson.loads(body)
    assert event_type in KNOWN_TYPES and event_type == payload["type"]
    assert data == payload["data"] and isinstance(data, dict)
    assert conversation_id == data.get("conversation_id")
    assert conversation_id is None or isinstance(conversation_id, str)
    assert ts is None or (isinstance(ts, int) and ts == payload["event_timestamp"])


NOW = 1_750_000_000
SECRETS = ["whsec_primary", "whsec_rotated"]
TOLERANCE, FUTURE = 30 * 60, 5 * 60


def _non_ascii_digest(header: str) -> bool:
    """A `v0=` value with a non-ASCII character: pinned by
    test_a_non_ascii_digest_is_a_signature_error."""
    parts = (part.strip().partition("=") for part in header.split(","))
    return any(key == "v0" and value and not value.isascii() for key, _, value in parts)


HEADERS = st.one_of(
    st.text(max_size=40),
    st.builds(
        "t={},v0={}".format,
        st.integers(NOW - 2 * TOLERANCE, NOW + 2 * FUTURE) | st.text(max_size=6),
        st.text(alphabet="0123456789abcdef", max_size=64) | st.text(max_size=8),
    ),
    st.lists(
        st.sampled_from(["t", "v0", "v1", " t", ""]).flatmap(
            lambda k: st.text(max_size=10).map(lambda v: f"{k}={v}")
        ),
        max_size=4,
    ).map(",".join),
)


@given(header=st.none() | HEADERS, body=st.binary(max_size=64))
@FAST
def test_any_signature_header_verifies_or_raises_signature_error(
    header: str | None, body: bytes
) -> None:
    assume(header is None or not _non_ascii_digest(header))
    try:
        timestamp = signing.verify(header, body, SECRETS, now=NOW)
    except SignatureError:
        return
    # Verifying means one of the digests is this body's under one of the secrets.
    assert header is not None and NOW - TOLERANCE <= timestamp <= NOW + FUTURE
    assert any(signing.compute(s, timestamp, body) in header for s in SECRETS)


@given(
    body=st.binary(max_size=256),
    secret=st.sampled_from(SECRETS),
    skew=st.integers(-TOLERANCE, FUTURE),
    cuts=st.lists(st.integers(0, 256), max_size=4),
    data=st.data(),
)
@FAST
def test_a_valid_signature_verifies_and_any_single_byte_change_fails(
    body: bytes, secret: str, skew: int, cuts: list[int], data: st.DataObject
) -> None:
    timestamp = NOW + skew
    header = signing.sign(secret, timestamp, body)
    assert signing.verify(header, body, SECRETS, now=NOW) == timestamp
    # In chunks, as the route receives it.
    verifier = signing.StreamVerifier(header, SECRETS, now=NOW)
    bounds = sorted({0, len(body), *(c for c in cuts if c <= len(body))})
    for start, end in itertools.pairwise(bounds):
        verifier.update(body[start:end])
    assert verifier.verify() == timestamp
    changed: list[bytes] = [body + b"\0"]
    if body:
        at = data.draw(st.integers(0, len(body) - 1))
        flip = data.draw(st.integers(1, 255))
        changed += [body[:at] + bytes([body[at] ^ flip]) + body[at + 1 :], body[:-1]]
    for other in changed:
        with pytest.raises(SignatureError):
            signing.verify(header, other, SECRETS, now=NOW)
    digest = header.split("v0=")[1]
    at = data.draw(st.integers(0, len(digest) - 1))
    forged = digest[:at] + ("0" if digest[at] != "0" else "1") + digest[at + 1 :]
    for wrong in (f"t={timestamp},v0={forged}", f"t={timestamp + 1},v0={digest}"):
        with pytest.raises(SignatureError):
            signing.verify(wrong, body, SECRETS, now=NOW)
    with pytest.raises(SignatureError):
        signing.verify(header, body, ["another-secret"], now=NOW)


@given(late=st.integers(1, 10**9), body=st.binary(max_size=16))
@FAST
def test_stale_and_future_signatures_are_refused(late: int, body: bytes) -> None:
    for timestamp in (NOW - TOLERANCE - late, NOW + FUTURE + late):
        with pytest.raises(SignatureError, match=r"too old|in the future"):
            signing.verify(signing.sign(SECRETS[0], timestamp, body), body, SECRETS, now=NOW)


def test_a_non_ascii_digest_is_a_signature_error() -> None:
    with pytest.raises(SignatureError):
        signing.verify(f"t={NOW},v0=\xe9", b"{}", SECRETS, now=NOW)


# --- the outcome reducers ------------------------------------------------------------------------

STATUSES = st.sampled_from(["done", "failed", "initiated", "in-progress", "processing", ""])
TOOL_CALLS = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "tool_name": st.sampled_from(
                ["voicemail_detection", "transfer_to_number", "transfer_to_human", "end_call"]
            )
            | JSON
        },
    )
    | JSON,
    max_size=3,
)
RESULTS = st.dictionaries(
    st.text(max_size=6), st.fixed_dictionaries({}, optional={"value": JSON, "result": JSON}) | JSON
)
CONVERSATIONS = st.fixed_dictionaries(
    {},
    optional={
        "status": STATUSES | JSON,
        "metadata": st.fixed_dictionaries(
            {},
            optional={
                "termination_reason": st.none()
                | st.sampled_from(["Voicemail detected", "busy", "no answer", "hangup"])
                | st.text(max_size=12),
                "call_duration_secs": LEAF,
                "cost": LEAF,
                "charging": JSON,
                "error": JSON_OBJECT | JSON,
                "start_time_unix_secs": LEAF,
            },
        )
        | st.none(),
        "analysis": st.fixed_dictionaries(
            {},
            optional={
                "call_successful": LEAF,
                "transcript_summary": LEAF,
                "data_collection_results": RESULTS,
                "evaluation_criteria_results": RESULTS,
            },
        )
        | st.none(),
        "transcript": st.lists(
            st.fixed_dictionaries({}, optional={"tool_calls": TOOL_CALLS | st.none()}) | JSON,
            max_size=3,
        )
        | JSON,
        "has_audio": JSON,
    },
).flatmap(lambda d: JSON_OBJECT.map(lambda extra: {**extra, **d}))


@given(record=CONVERSATIONS)
@FAST
def test_a_conversation_record_reduces_to_a_state(record: dict[str, Any]) -> None:
    facts = facts_from_conversation(record)
    assert facts.state in AttemptState
    status = str(record.get("status") or "")
    expected = {
        "done": {AttemptState.COMPLETED, AttemptState.VOICEMAIL},
        "failed": {AttemptState.BUSY, AttemptState.NO_ANSWER, AttemptState.FAILED},
        "in-progress": {AttemptState.IN_PROGRESS},
        "processing": {AttemptState.IN_PROGRESS},
    }.get(status, {AttemptState.INITIATED})
    assert facts.state in expected, (status, facts.state)
    duration = (record.get("metadata") or {}).get("call_duration_secs")
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        assert facts.duration_secs == float(duration)
    else:
        assert facts.duration_secs is None
    assert isinstance(facts.has_audio, bool) and isinstance(facts.transferred, bool)


@example(record={"metadata": "x"})  # also {"analysis": {"data_collection_results": [1]}}, ...
@given(record=JSON_OBJECT)
@FAST
def test_any_json_object_reduces_to_a_state(record: dict[str, Any]) -> None:
    assert facts_from_conversation(record).state in AttemptState


@given(data=JSON_OBJECT, reason=st.sampled_from(["busy", "no-answer", "unknown", ""]) | JSON)
@FAST
def test_any_initiation_failure_reduces_to_a_failed_state(
    data: dict[str, Any], reason: Any
) -> None:
    facts = facts_from_initiation_failure({**data, "failure_reason": reason})
    expected = {"busy": AttemptState.BUSY, "no-answer": AttemptState.NO_ANSWER}
    assert facts.state == expected.get(str(reason), AttemptState.FAILED)
    assert facts.failure_reason == str(reason or "unknown")
    assert facts.termination_reason == f"call_initiation_failure: {facts.failure_reason}"


TWILIO_KEYS = st.sampled_from(["CallStatus", "AnsweredBy", "CallDuration", "CallSid"])
TWILIO_VALUES = st.sampled_from(
    [
        *("completed", "busy", "no-answer", "failed", "canceled", "ringing", "in-progress"),
        *("human", "machine_start", "fax", "12", "0", "", " 3", "-1", "1.5"),
    ]
)


@given(
    params=st.dictionaries(TWILIO_KEYS | st.text(max_size=5), TWILIO_VALUES | st.text(max_size=6))
)
@FAST
def test_any_twilio_status_form_reduces_to_a_state(params: dict[str, str]) -> None:
    duration = params.get("CallDuration")
    facts = facts_from_twilio_status(params)
    assert facts.state in AttemptState
    machine = (params.get("AnsweredBy") or "").startswith(("machine", "fax"))
    if params.get("CallStatus") == "completed":
        assert facts.state == (AttemptState.VOICEMAIL if machine else AttemptState.COMPLETED)
    if duration and duration.isascii() and duration.isdigit():
        assert facts.duration_secs == float(duration)
    else:
        assert facts.duration_secs is None
    busy = facts.state in (AttemptState.BUSY, AttemptState.NO_ANSWER)
    assert (facts.failure_reason is not None) == busy


def test_a_twilio_duration_in_unicode_digits_is_ignored() -> None:
    facts = facts_from_twilio_status({"CallStatus": "completed", "CallDuration": "²"})
    assert facts.duration_secs is None


# --- the personalization request ------------------------------------------------------------------

PERSONALIZATION_SECRET = "pz-secret"
GATE = Gate("X-Personalization-Secret", [PERSONALIZATION_SECRET.encode()], [AGENT])
FIELD_VALUES = st.one_of(
    st.sampled_from(["+14155550123", "+442079460018", "+1415555012", "14155550123", AGENT]),
    st.sampled_from(["CA123", "", "x" * 201, "+1 415 555 0123"]),
    JSON,
)
VALID_NUMBERS = st.sampled_from([e164 for e164, _ in NUMBERS if len(e164) >= 8])
REQUESTS = st.fixed_dictionaries(
    {
        "caller_id": mostly(VALID_NUMBERS, FIELD_VALUES),
        "agent_id": mostly(st.just(AGENT), FIELD_VALUES),
        "called_number": mostly(VALID_NUMBERS, FIELD_VALUES),
        "call_sid": mostly(st.text(min_size=1, max_size=12), FIELD_VALUES),
    },
).flatmap(lambda d: JSON_OBJECT.map(lambda extra: {**extra, **d}))


@given(
    body=st.one_of(
        st.binary(max_size=64),
        JSON.map(lambda v: json.dumps(v).encode()),
        REQUESTS.map(lambda v: json.dumps(v).encode()),
    )
)
@FAST
def test_any_personalization_body_is_a_request_or_refused(body: bytes) -> None:
    try:
        inbound = GATE.parse(body)
    except PersonalizationRefused as refused:
        answer = dict(refused.payload)
        assert refused.status in (400, 422) and answer["error"]
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            assert refused.status == 400
        else:
            assert refused.status == 422
            if isinstance(parsed, dict):
                fields = {p["field"] for p in answer["problems"]}
                assert fields <= {"caller_id", "agent_id", "called_number", "call_sid"}
        return
    assert isinstance(inbound, InboundRequest)
    assert is_e164(inbound.called_number)
    # The caller's number plan is checked before the database, on a miss (a number with a
    # precomputed record was validated at import): valid there, or refused naming it.
    try:
        GATE.check_caller(inbound.caller_id)
    except PersonalizationRefused as refused:
        assert refused.status == 422
        assert [p["field"] for p in dict(refused.payload)["problems"]] == ["caller_id"]
        assert not is_e164(inbound.caller_id)
    else:
        assert is_e164(inbound.caller_id)
    assert inbound.agent_id == AGENT
    assert 0 < len(inbound.call_sid) <= 200


@given(
    given_secret=st.none()
    | st.text(max_size=12)
    | st.sampled_from(
        [PERSONALIZATION_SECRET, PERSONALIZATION_SECRET + " ", PERSONALIZATION_SECRET[:-1], ""]
    )
)
@FAST
def test_only_an_accepted_secret_passes_the_gate(given_secret: str | None) -> None:
    try:
        GATE.authenticate(given_secret)
    except PersonalizationRefused as refused:
        assert refused.status == 401 and given_secret != PERSONALIZATION_SECRET
        return
    assert given_secret == PERSONALIZATION_SECRET
