"""CSV import into a campaign: good rows in, bad rows reported by line, re-imports idempotent."""

from __future__ import annotations

import asyncio
import csv
from collections import Counter
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlmodel import select

from orchestrator.intake.csv_import import CsvRefused, RowError, import_csv
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.models import Attempt, Campaign, Contact, DoNotCall
from tests.support.factories import make_campaign

HEADER = "external_id,phone_number,timezone,customer_name,balance,visits,vip,system__x\n"

MIXED = (
    HEADER
    + "crm-1,+14155550123,America/Los_Angeles,Ada,12.5,3,true,\n"  # 2 ok
    + "crm-2,not-a-phone,,Bob,,,,\n"  # 3 invalid phone
    + ",+14155550124,,Cy,,,,\n"  # 4 missing external_id
    + "crm-4,+14155550125,,Dee,,many,,\n"  # 5 non-integer visits
    + "\n"  # 6 blank: skipped, but still a line
    + "crm-5,+14155550126,,Eve,,,perhaps,\n"  # 7 bad boolean
    + "crm-6,+14155550127,Mars/Olympus,Fay,,,,\n"  # 8 unknown time zone
    + "crm-7,+14155550128,,Gus,,,,oops\n"  # 9 system__ column
    + "crm-8,+14155550129,,,,,,\n"  # 10 missing required customer_name
    + 'crm-9,+442079460018,Europe/London,"Hal\nJr",0,0,no,\n'  # 11-12 ok, quoted newline
    + "crm-10,+14155550130,,Ivy,1,2,false,,surplus\n"  # 13 more cells than columns
)

EXPECTED_ERRORS = {
    (3, "phone_number"),
    (4, "external_id"),
    (5, "visits"),
    (7, "vip"),
    (8, "timezone"),
    (9, "system__x"),
    (10, "customer_name"),
    (13, "(row)"),
}


def write(tmp_path: Path, text: str, name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def database_bytes(folder: Path) -> bytes:
    """The raw bytes of the SQLite file and any WAL/shm side files."""
    files = sorted(folder.glob("test.db*"))
    assert folder / "test.db" in files
    return b"".join(p.read_bytes() for p in files)


async def contacts_by_external_id(db: Database) -> dict[str, Contact]:
    async with db.session() as s:
        return {c.external_id: c for c in (await s.exec(select(Contact))).all()}


async def attempts_per_external_id(db: Database) -> Counter[str]:
    async with db.session() as s:
        rows = (
            await s.exec(
                select(Contact.external_id).join(Attempt, Attempt.contact_id == Contact.id)  # type: ignore[arg-type]
            )
        ).all()
    return Counter(rows)


async def test_good_rows_are_imported_and_bad_rows_reported_by_line(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    rejects = tmp_path / "out" / "rejects.csv"
    summary = await import_csv(
        db, settings, write(tmp_path, MIXED), "spring", rejects_path=rejects, create=True
    )

    assert summary.rows == 10
    assert (summary.accepted, summary.updated, summary.unchanged) == (2, 0, 0)
    assert summary.rejected == 8
    assert summary.imported == 2
    assert {(e.line, e.field) for e in summary.errors} == EXPECTED_ERRORS
    assert all(e.reason for e in summary.errors)

    contacts = await contacts_by_external_id(db)
    assert set(contacts) == {"crm-1", "crm-9"}
    assert contacts["crm-1"].phone_number == "+14155550123"
    assert contacts["crm-1"].timezone == "America/Los_Angeles"
    assert contacts["crm-1"].variables == {
        "customer_name": "Ada",
        "balance": 12.5,
        "visits": 3,
        "vip": True,
    }
    assert contacts["crm-9"].variables["customer_name"] == "Hal\nJr"
    assert await attempts_per_external_id(db) == {"crm-1": 1, "crm-9": 1}

    async with db.session() as s:
        campaign = (await s.exec(select(Campaign).where(Campaign.name == "spring"))).one()
    assert campaign.agent_id == "agent_test"

    assert summary.rejects_path == rejects
    with rejects.open(newline="", encoding="utf-8") as fh:
        written = list(csv.DictReader(fh))
    assert {(int(r["line"]), r["field"]) for r in written} == EXPECTED_ERRORS
    assert [RowError(int(r["line"]), r["field"], r["reason"]) for r in written] == summary.errors


async def test_a_bad_record_spanning_lines_is_reported_at_its_first_line(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    text = (
        HEADER
        + 'crm-1,+14155550123,,"Ada\r\nof\nLovelace",,many,,\n'  # lines 2-4, bad visits
        + "\n"  # line 5, blank
        + "crm-2,nope,,Bob,,,,\n"  # line 6, bad phone
    )
    summary = await import_csv(db, settings, write(tmp_path, text), "c", create=True)
    assert [(e.line, e.field) for e in summary.errors] == [(2, "visits"), (6, "phone_number")]


async def test_no_rejects_file_when_every_row_is_good(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    rejects = tmp_path / "rejects.csv"
    text = HEADER + "crm-1,+14155550123,,Ada,,,,\n"
    summary = await import_csv(
        db, settings, write(tmp_path, text), "c", rejects_path=rejects, create=True
    )
    assert summary.errors == [] and summary.rejects_path is None
    assert not rejects.exists()


@pytest.mark.parametrize(
    "text",
    [
        "external_id,customer_name\ncrm-1,Ada\n",
        "phone,external_id\n+14155550123,crm-1\n",
        "",
    ],
)
async def test_a_header_without_required_columns_raises(
    db: Database, settings: Settings, tmp_path: Path, text: str
) -> None:
    with pytest.raises(CsvRefused):
        await import_csv(db, settings, write(tmp_path, text), "c", create=True)
    assert await contacts_by_external_id(db) == {}


async def test_reimporting_the_same_file_changes_nothing(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    path = write(tmp_path, MIXED)
    await import_csv(db, settings, path, "spring", create=True)
    again = await import_csv(db, settings, path, "spring", create=True)
    assert (again.accepted, again.updated, again.unchanged, again.rejected) == (0, 0, 2, 8)
    assert len(await contacts_by_external_id(db)) == 2
    assert await attempts_per_external_id(db) == {"crm-1": 1, "crm-9": 1}


async def test_a_changed_value_is_an_update(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    await import_csv(
        db, settings, write(tmp_path, HEADER + "crm-1,+14155550123,,Ada,1,,,\n"), "c", create=True
    )
    changed = write(tmp_path, HEADER + "crm-1,+14155550123,,Ada,2,,,\n", "changed.csv")
    summary = await import_csv(db, settings, changed, "c", create=True)
    assert (summary.accepted, summary.updated, summary.unchanged) == (0, 1, 0)
    contact = (await contacts_by_external_id(db))["crm-1"]
    assert contact.variables["balance"] == 2.0
    assert await attempts_per_external_id(db) == {"crm-1": 1}


async def test_duplicate_external_ids_in_one_file_fold_into_one_contact(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    text = HEADER + "crm-1,+14155550123,,Ada,,,,\n" + "crm-1,+14155550123,,Ada Lovelace,,,,\n"
    summary = await import_csv(db, settings, write(tmp_path, text), "c", create=True)
    assert summary.rows == 2
    assert (summary.accepted, summary.unchanged, summary.rejected) == (1, 1, 0)
    contacts = await contacts_by_external_id(db)
    assert list(contacts) == ["crm-1"]
    assert contacts["crm-1"].variables["customer_name"] == "Ada Lovelace"  # the last one wins
    assert await attempts_per_external_id(db) == {"crm-1": 1}


async def test_a_do_not_call_number_gets_no_attempt(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    async with db.session() as s:
        s.add(DoNotCall(phone_number="+14155550123", reason="asked"))
    text = HEADER + "crm-1,+1 (415) 555-0123,,Ada,,,,\n" + "crm-2,+14155550124,,Bob,,,,\n"
    summary = await import_csv(db, settings, write(tmp_path, text), "c", create=True)
    assert summary.accepted == 2
    contacts = await contacts_by_external_id(db)
    assert contacts["crm-1"].disposition == "do_not_call"
    assert contacts["crm-2"].disposition == "pending"
    assert await attempts_per_external_id(db) == {"crm-2": 1}


async def test_progress_reports_every_byte(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    path = write(tmp_path, MIXED)
    seen: list[int] = []
    await import_csv(db, settings, path, "c", on_bytes=seen.append, create=True)
    assert sum(seen) == path.stat().st_size


async def test_a_large_file_imports_completely(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    lines = [HEADER.rstrip("\n")]
    lines += [f"crm-{i},+1415555{i:04d},,Person {i},{i}.5,{i % 9},{i % 2}," for i in range(5000)]
    summary = await import_csv(
        db, settings, write(tmp_path, "\n".join(lines) + "\n"), "big", create=True
    )
    assert (summary.rows, summary.accepted, summary.rejected) == (5000, 5000, 0)
    async with db.session() as s:
        assert len((await s.exec(select(Contact.id))).all()) == 5000
        assert len((await s.exec(select(Attempt.id))).all()) == 5000
    assert len(await contacts_by_external_id(db)) == 5000


# --- secret__ columns -----------------------------------------------------------------------

SECRET_CSV = "external_id,phone_number,customer_name,secret__token\n" + (
    "crm-1,+14155550123,Ada,tok_live_PLAINTEXT_8c1f\n"
)


async def test_secret_columns_are_stored_encrypted(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    key = SecretBox.generate_key()
    keyed = settings.model_copy(update={"secret_keys": [SecretStr(key)]})
    summary = await import_csv(db, keyed, write(tmp_path, SECRET_CSV), "c", create=True)
    assert (summary.accepted, summary.rejected) == (1, 0)

    stored = (await contacts_by_external_id(db))["crm-1"].variables
    assert stored["secret__token"] != "tok_live_PLAINTEXT_8c1f"
    assert SecretBox([key]).open(stored)["secret__token"] == "tok_live_PLAINTEXT_8c1f"

    await db.dispose()
    raw = database_bytes(tmp_path)
    assert b"tok_live_PLAINTEXT_8c1f" not in raw
    assert b"Ada" in raw  # the file is readable: the check above is meaningful


async def test_changing_a_secret_value_is_an_update(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    key = SecretBox.generate_key()
    keyed = settings.model_copy(update={"secret_keys": [SecretStr(key)]})
    path = write(tmp_path, SECRET_CSV)
    await import_csv(db, keyed, path, "c", create=True)
    assert (await import_csv(db, keyed, path, "c", create=True)).unchanged == 1
    rotated = write(tmp_path, SECRET_CSV.replace("PLAINTEXT_8c1f", "ROTATED_0000"), "b.csv")
    summary = await import_csv(db, keyed, rotated, "c", create=True)
    assert summary.updated == 1
    stored = (await contacts_by_external_id(db))["crm-1"].variables
    assert SecretBox([key]).open(stored)["secret__token"] == "tok_live_ROTATED_0000"


async def test_secret_columns_without_keys_are_rejected_with_a_reason(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    text = SECRET_CSV + "crm-2,+14155550124,Bob,\n"  # no secret value: nothing to encrypt
    summary = await import_csv(db, settings, write(tmp_path, text), "c", create=True)
    assert (summary.accepted, summary.rejected) == (1, 1)
    [error] = summary.errors
    assert (error.line, error.field) == (2, "secret__token")
    assert "ORCH_SECRET_KEYS" in error.reason
    assert list(await contacts_by_external_id(db)) == ["crm-2"]


# --- validation in worker processes -----------------------------------------------------------


async def test_worker_processes_give_the_same_import(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    rows = [HEADER.rstrip("\n")]
    rows += [
        f"crm-{i},+1415555{i % 10000:04d},,Person {i},{i}.5,{i % 9},{i % 2}," for i in range(4500)
    ]
    rows[1000] = "crm-bad,12,,X,,,,"  # line 1001
    rows[3000] = "crm-2998,+14155550001,,Again,,,,"  # folds with crm-2998 (line 3000)
    path = write(tmp_path, "\n".join(rows) + "\n")
    rejects = tmp_path / "rejects.csv"
    summary = await import_csv(
        db, settings, path, "pool", workers=2, rejects_path=rejects, create=True
    )
    assert (summary.rows, summary.rejected) == (4500, 1)
    assert [(e.line, e.field) for e in summary.errors] == [(1001, "phone_number")]
    assert summary.accepted == 4498
    contacts = await contacts_by_external_id(db)
    assert len(contacts) == 4498
    assert contacts["crm-2998"].variables["customer_name"] == "Again"
    assert contacts["crm-4499"].variables == {
        "customer_name": "Person 4499",
        "balance": 4499.5,
        "visits": 4499 % 9,
        "vip": True,
    }
    assert rejects.read_text().count("\n") == 2


async def test_a_worker_that_never_starts_leaves_the_import_to_this_process(
    db: Database, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.intake import validation_pool

    monkeypatch.setattr(validation_pool, "WORKER_ARGS", ("-c", "raise SystemExit(3)"))
    text = HEADER + "crm-1,+14155550123,,Ada,,,,\n"
    summary = await import_csv(db, settings, write(tmp_path, text), "c", workers=1, create=True)
    assert summary.accepted == 1
    assert list(await contacts_by_external_id(db)) == ["crm-1"]


async def test_a_worker_that_dies_after_starting_is_a_clear_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.domain.campaign_policy import CampaignPolicy
    from orchestrator.intake import validation_pool
    from orchestrator.intake.rows import RowRules

    # Says it is ready, then exits before validating anything.
    ready_then_exit = (
        "import pickle, struct, sys; body = pickle.dumps(None); "
        "sys.stdout.buffer.write(struct.pack('!I', len(body)) + body); sys.stdout.flush()"
    )
    monkeypatch.setattr(validation_pool, "WORKER_ARGS", ("-c", ready_then_exit))
    rules = RowRules.for_campaign(settings, "agent_test", CampaignPolicy())
    validator = validation_pool.Validator(
        ["external_id", "phone_number", "customer_name"], rules, 1
    )
    await validator.start()
    try:
        for _ in range(200):
            if validator._pool[0].ready:
                break
            await asyncio.sleep(0.05)
        assert validator._pool[0].ready
        with pytest.raises(validation_pool.ValidationWorkerError, match="exited"):
            future = await validator.submit([["crm-1", "+14155550123", "Ada"]])
            await future
    finally:
        await validator.close()


# --- the rejects file ---------------------------------------------------------------------------


async def test_rejects_carry_the_row_with_secrets_masked(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    keyed = settings.model_copy(update={"secret_keys": [SecretStr(SecretBox.generate_key())]})
    text = (
        "external_id,phone_number,customer_name,secret__token\n"
        "crm-1,nope,Ada,tok_PLANTED_1\n"
        "crm-2,+14155550124,,tok_PLANTED_2\n"
    )
    rejects = tmp_path / "rejects.csv"
    await import_csv(db, keyed, write(tmp_path, text), "c", rejects_path=rejects, create=True)
    written = list(csv.DictReader(rejects.open(encoding="utf-8")))
    assert [(r["line"], r["field"]) for r in written] == [
        ("2", "phone_number"),
        ("3", "customer_name"),
    ]
    assert written[0]["external_id"] == "crm-1" and written[0]["phone_number"] == "nope"
    assert {r["secret__token"] for r in written} == {"***"}
    assert "PLANTED" not in rejects.read_text()


async def test_errors_kept_in_memory_are_capped_but_all_rows_are_counted(
    db: Database, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.intake import csv_import

    monkeypatch.setattr(csv_import, "KEEP_ERRORS", 3)
    text = HEADER + "".join(f"crm-{i},bad,,A,,,,\n" for i in range(10))
    rejects = tmp_path / "rejects.csv"
    summary = await import_csv(
        db, settings, write(tmp_path, text), "c", rejects_path=rejects, create=True
    )
    assert summary.rejected == 10 and len(summary.errors) == 3
    assert rejects.read_text().count("\n") == 11


async def test_a_persona_column_is_checked_against_the_campaign(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    from orchestrator.domain.persona import Persona
    from orchestrator.intake.campaign_spec import resolve_create
    from orchestrator.store import campaigns

    personas = {"calm": Persona(agent_id="agent_test", voice_id="v")}
    configured = settings.model_copy(update={"personas": personas})
    name, columns, config = resolve_create(
        {"name": "p", "allowed_overrides": ["voice"]}, configured
    )
    async with db.session() as s:
        await campaigns.create_campaign(s, name, config=config, **columns)
    text = (
        "external_id,phone_number,customer_name,persona\n"
        "crm-1,+14155550123,Ada,calm\n"
        "crm-2,+14155550124,Bob,shouty\n"
    )
    summary = await import_csv(db, configured, write(tmp_path, text), "p", create=True)
    assert summary.accepted == 1
    assert [(e.line, e.field) for e in summary.errors] == [(3, "persona")]
    assert (await contacts_by_external_id(db))["crm-1"].persona == "calm"


# --- files that are not UTF-8 -------------------------------------------------------------------


async def test_a_file_that_is_not_utf8_is_refused_whole_naming_line_and_byte(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    from orchestrator.errors import CsvNotUtf8

    # More good rows than a batch before the bad byte: none of them may be stored either.
    good = "".join(f"crm-{i},+1415555{i:04d},,Person {i},,,,\n" for i in range(5000))
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + good).encode() + b"crm-x,+14155559999,,Jos\xe9,,,,\n")
    with pytest.raises(CsvNotUtf8, match=r"line 5002 has the byte 0xE9") as info:
        await import_csv(db, settings, path, "c", create=True)
    assert isinstance(info.value, CsvRefused)  # every caller's "cannot import" refusal
    assert "UTF-8" in str(info.value)
    assert await contacts_by_external_id(db) == {}


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1 << 20])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
async def test_the_bad_byte_is_found_whatever_the_reading_chunks(
    db: Database,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
    newline: str,
) -> None:
    from orchestrator.intake import csv_import

    monkeypatch.setattr(csv_import, "_CHUNK", chunk)
    # Multi-byte characters split across chunks are fine; the cut one on line 3 is not.
    lines = ["external_id,phone_number,customer_name", "a,+14155550123,Zoë 日本", "b,+1415555"]
    head = newline.join(lines).encode() + b"0124," + "名".encode()[:2] + newline.encode()
    path = tmp_path / "cut.csv"
    path.write_bytes(head + b"c,+14155550125,Cy" + newline.encode())
    offset = len(newline.join(lines).encode()) + len(b"0124,")  # where the cut sequence starts
    with pytest.raises(csv_import.CsvNotUtf8) as info:
        await import_csv(db, settings, path, "c", create=True)
    assert f"line 3 has the byte 0xE5 (byte {offset + 1} of the file)" in str(info.value)


async def test_a_utf8_file_with_a_byte_order_mark_imports(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffexternal_id,phone_number,customer_name\nx,+14155550123,Zoë\n".encode())
    summary = await import_csv(db, settings, path, "c", create=True)
    assert (summary.accepted, summary.rejected) == (1, 0)
    assert (await contacts_by_external_id(db))["x"].variables["customer_name"] == "Zoë"


# --- records the CSV reader cannot read whole ----------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
async def test_a_cell_left_open_at_the_end_is_reported_at_its_first_line(
    db: Database, settings: Settings, tmp_path: Path, newline: str
) -> None:
    text = newline.join(
        ["external_id,phone_number,customer_name", "x,+14155550123,Ada", 'y,bad,"Bob', "Jr", ""]
    )
    summary = await import_csv(db, settings, write(tmp_path, text), "c", create=True)
    assert (summary.accepted, summary.rejected) == (1, 1)
    # The open quote holds the rest of the file: the record is refused whole, not read as a
    # row whose last cell swallowed every line after it.
    [error] = summary.errors
    assert (error.line, error.field) == (3, "(row)")
    assert "lines 3-4" in error.reason and "never closed" in error.reason


async def test_an_oversized_cell_is_a_refused_row_and_reading_goes_on(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    # The open cell holds lines 3-4 within the limit; line 5 takes it over.
    limit = csv.field_size_limit()
    text = (
        "external_id,phone_number,customer_name\n"
        "a,+14155550123,Ada\n"  # 2
        'b,+14155550124,"' + "x" * (limit - 30) + "\n"  # 3: the quote is never closed
        "c,+14155550125,Cy\n"  # 4: swallowed by the open quote
        + "y" * 50
        + "\n"  # 5: where the cell outgrows the limit
        + "d,+14155550126,Dee\n"  # 6: read again from here
    )
    rejects = tmp_path / "rejects.csv"
    summary = await import_csv(
        db, settings, write(tmp_path, text), "c", rejects_path=rejects, create=True
    )
    assert (summary.rows, summary.accepted, summary.rejected) == (3, 2, 1)
    [error] = summary.errors
    assert (error.line, error.field) == (3, "(row)")
    assert "lines 3-5" in error.reason and "field limit" in error.reason
    assert set(await contacts_by_external_id(db)) == {"a", "d"}
    written = list(csv.DictReader(rejects.open(encoding="utf-8")))
    assert [(r["line"], r["field"]) for r in written] == [("3", "(row)")]


async def test_an_oversized_cell_keeps_its_place_among_the_errors(
    db: Database, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.intake import csv_import

    monkeypatch.setattr(csv_import, "BATCH", 2)  # the unreadable record mid-batch, and last
    big = "z" * (csv.field_size_limit() + 1)
    text = (
        "external_id,phone_number,customer_name\n"
        "a,bad,A\n"  # 2
        f"b,+14155550124,{big}\n"  # 3
        "c,bad,C\n"  # 4
        "d,+14155550125,D\n"  # 5
        f"e,+14155550126,{big}\n"  # 6
    )
    summary = await import_csv(db, settings, write(tmp_path, text), "c", create=True)
    assert (summary.rows, summary.accepted, summary.rejected) == (5, 1, 4)
    assert [(e.line, e.field) for e in summary.errors] == [
        (2, "phone_number"),
        (3, "(row)"),
        (4, "phone_number"),
        (6, "(row)"),
    ]
    assert "line 3 cannot" in summary.errors[1].reason


async def test_an_oversized_header_is_a_header_error(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    text = '"' + "h" * (csv.field_size_limit() + 1) + "\nx\n"
    with pytest.raises(CsvRefused, match="header row cannot be read"):
        await import_csv(db, settings, write(tmp_path, text), "c", create=True)


# --- values that look sealed --------------------------------------------------------------------


async def test_values_that_look_sealed_are_stored_and_read_as_given(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    key = SecretBox.generate_key()
    keyed = settings.model_copy(update={"secret_keys": [SecretStr(key)]})
    text = "external_id,phone_number,customer_name,note,secret__token\n" + (
        "crm-1,+14155550123,enc:v1:Ada,enc:v1:hello,enc:v1:tok_PLAIN_42\n"
    )
    path = write(tmp_path, text)
    assert (await import_csv(db, keyed, path, "c", create=True)).accepted == 1
    stored = (await contacts_by_external_id(db))["crm-1"].variables
    assert stored["note"] == "enc:v1:hello" and stored["customer_name"] == "enc:v1:Ada"
    assert stored["secret__token"] != "enc:v1:tok_PLAIN_42"
    assert SecretBox([key]).open(stored) == {
        "customer_name": "enc:v1:Ada",
        "note": "enc:v1:hello",
        "secret__token": "enc:v1:tok_PLAIN_42",
    }
    again = await import_csv(db, keyed, path, "c", create=True)
    assert (again.updated, again.unchanged) == (0, 1)


# --- the campaign must exist (a typo never creates one) -----------------------------------------


async def test_a_campaign_that_does_not_exist_is_refused_before_anything_is_stored(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    from orchestrator.errors import NotFound

    path = write(tmp_path, HEADER + "crm-1,+14155550123,,Ada,,,,\n")
    with pytest.raises(NotFound, match="nope"):
        await import_csv(db, settings, path, "nope")
    async with db.session() as s:
        assert (await s.exec(select(Campaign))).all() == []
    assert await contacts_by_external_id(db) == {}


async def test_create_makes_the_campaign_only_once_the_file_is_known_to_import(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    from orchestrator.errors import ValidationFailed

    good = write(tmp_path, HEADER + "crm-1,+14155550123,,Ada,,,,\n")
    with pytest.raises(ValidationFailed) as refused:
        await import_csv(db, settings, good, "1234", create=True)  # a name `create` refuses
    assert refused.value.problems[0][0] == "name"
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(HEADER.encode() + b"crm-1,+14155550123,,Jos\xe9,,,,\n")
    with pytest.raises(CsvRefused):
        await import_csv(db, settings, latin1, "new", create=True)
    with pytest.raises(CsvRefused):
        await import_csv(
            db, settings, write(tmp_path, "external_id\nx\n", "h.csv"), "new", create=True
        )
    async with db.session() as s:
        assert (await s.exec(select(Campaign))).all() == []

    summary = await import_csv(db, settings, good, "new", create=True)
    assert summary.created_campaign and summary.accepted == 1
    async with db.session() as s:
        [campaign] = (await s.exec(select(Campaign))).all()
    assert (campaign.name, campaign.agent_id, campaign.status) == ("new", "agent_test", "active")
    again = await import_csv(db, settings, good, "new", create=True)
    assert not again.created_campaign and again.unchanged == 1


# --- cells the reader would otherwise take silently ---------------------------------------------


@pytest.mark.parametrize(
    ("tail", "lines", "why"),
    [
        ('crm-2,+14155550124,,"unterminated\n', "line 3", "never closed"),
        ('crm-2,+14155550124,,"unterminated\ncrm-3,+14155550125,,Cy,,,,\n', "lines 3-4", "never"),
        ('crm-2,+14155550124,,"unterminated', "line 3", "never closed"),
        ('crm-2,+14155550124,,"Bo"b,,,,\ncrm-3,+14155550125,,Cy,,,,\n', "line 3", "doubled"),
    ],
)
async def test_a_quote_that_breaks_the_record_is_a_row_error_naming_its_lines(
    db: Database, settings: Settings, tmp_path: Path, tail: str, lines: str, why: str
) -> None:
    await make_campaign(db, "c")
    text = HEADER + "crm-1,+14155550123,,Ada,,,,\n" + tail
    summary = await import_csv(db, settings, write(tmp_path, text), "c")
    assert summary.rejected == 1
    [error] = summary.errors
    assert (error.line, error.field) == (3, "(row)")
    assert lines in error.reason and why in error.reason
    assert "crm-2" not in await contacts_by_external_id(db)


async def test_integers_beyond_what_json_carries_exactly_are_refused_naming_the_column(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    await make_campaign(db, "c")
    text = (
        HEADER
        + "crm-1,+14155550123,,Ada,,123456789012345678901234,,\n"
        + "crm-2,+14155550124,,Bob,,9007199254740991,,\n"
    )
    summary = await import_csv(db, settings, write(tmp_path, text), "c")
    assert [(e.line, e.field) for e in summary.errors] == [(2, "visits")]
    assert "2**53" in summary.errors[0].reason or "9007199254740991" in summary.errors[0].reason
    assert (await contacts_by_external_id(db))["crm-2"].variables["visits"] == 2**53 - 1


# --- a file updates the fields it has, and keeps the rest ---------------------------------------


async def test_a_column_the_file_lacks_keeps_the_stored_value(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    await make_campaign(db, "c")
    first = HEADER + "crm-1,+14155550123,America/New_York,Ada,12.5,3,true,\n"
    await import_csv(db, settings, write(tmp_path, first), "c")
    async with db.session() as s:
        contact = (await s.exec(select(Contact))).one()
        contact.overrides = {"agent": {"language": "fr"}}  # set over the API
        s.add(contact)
    narrow = "external_id,phone_number,customer_name,visits\ncrm-1,+14155550123,Ada L,\n"
    summary = await import_csv(db, settings, write(tmp_path, narrow, "narrow.csv"), "c")
    assert summary.updated == 1
    contact = (await contacts_by_external_id(db))["crm-1"]
    # Given: the name changes; an empty cell empties `visits`. Not given: kept.
    assert contact.variables == {"customer_name": "Ada L", "balance": 12.5, "vip": True}
    assert contact.timezone == "America/New_York"
    assert contact.overrides == {"agent": {"language": "fr"}}


async def test_cells_and_headers_with_invalid_text_are_refused_naming_the_column(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    from tests.support.factories import make_campaign

    await make_campaign(db, "spring")
    text = (
        "external_id,phone_number,customer_name,note\x01\n"
        "crm-1,+14155550123,Ada,\n"  # 2 ok (the refused column is empty)
        "crm-2,+14155550124,Bo\x00b,\n"  # 3 NUL in a cell
        "crm\x1b-3,+14155550125,Cy,\n"  # 4 control character in the id
        "crm-4,+14155550126,\ufffe,\n"  # 5 noncharacter
        "crm-5,+14155550127,Dee,hello\n"  # 6 a value in a column whose name is refused
    )
    rejects = tmp_path / "rejects.csv"
    summary = await import_csv(db, settings, write(tmp_path, text), "spring", rejects_path=rejects)
    assert summary.accepted == 1 and summary.rejected == 4
    errors = {(e.line, e.field): e.reason for e in summary.errors}
    assert "NUL" in errors[3, "customer_name"]
    assert "control character U+001B" in errors[4, "external_id"]
    assert "noncharacter U+FFFE" in errors[5, "customer_name"]
    assert "control character U+0001" in errors[6, "note\\u0001"]
    assert set(await contacts_by_external_id(db)) == {"crm-1"}
    with rejects.open(newline="", encoding="utf-8") as fh:
        written = list(csv.reader(fh))
    assert {(row[0], row[1]) for row in written[1:]} == {
        ("3", "customer_name"),
        ("4", "external_id"),
        ("5", "customer_name"),
        ("6", "note\\u0001"),
    }
