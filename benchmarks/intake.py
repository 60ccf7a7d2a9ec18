"""Intake speed: a 100,000-row CSV import and HTTP bulk pushes in 1,000-row batches.

1. CSV: `python -m orchestrator contacts import` on a generated file of 100,000 valid contacts
   (US and UK numbers, typed variables, a persona column), in its own process on SQLite, three
   times on fresh databases. Rows per second over the whole command (interpreter start
   included; the median run) and the command's peak RSS (its validation workers included:
   `wait4` reports the largest of the process tree; the largest run).
2. HTTP: `orchestrator web` as a real process on SQLite (plus redis-server), 100 sequential
   `POST /v1/campaigns/{id}/contacts` of 1,000 new rows each with a crm token; rows per second.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks import Figure
from orchestrator.dev.profile import SAMPLE_AGENT_TOML
from orchestrator.dev.stack import LocalStack

CSV_ROWS = 100_000
HTTP_BATCHES = 100
HTTP_BATCH = 1_000

AGENT_TOML = '\nagent_id = "agent_sandbox"\n' + SAMPLE_AGENT_TOML

_US_AREAS = ("212", "305", "312", "415", "503", "617", "646", "702", "713", "808")
_UK_AREAS = ("20 7946", "161 496", "131 496", "117 496")


def phone(i: int) -> str:
    """A valid, distinct number: mostly US, one in ten in the UK."""
    if i % 10 == 9:
        area = _UK_AREAS[i % len(_UK_AREAS)]
        return f"+44 {area} {i % 10000:04d}"
    return f"+1{_US_AREAS[i % len(_US_AREAS)]}{200 + i // 10000 % 800:03d}{i % 10000:04d}"


def rows(start: int, count: int) -> Iterator[tuple[str, ...]]:
    """Contact rows (external_id, phone, timezone, persona, name, balance, visits, vip, plan)."""
    rnd = random.Random(start)
    for i in range(start, start + count):
        yield (
            f"crm-{i:07d}",
            phone(i),
            "America/New_York" if i % 3 == 0 else "",
            "maya" if i % 4 == 0 else "",
            f"Customer {i}",
            f"{rnd.uniform(0, 500):.2f}",
            str(rnd.randint(0, 20)),
            "true" if i % 7 == 0 else "false",
            rnd.choice(("basic", "gold", "platinum")),
        )


def write_csv(path: Path, count: int) -> None:
    """The benchmark's CSV file."""
    header = "external_id,phone_number,timezone,persona,customer_name,balance,visits,vip,plan"
    with path.open("w", encoding="utf-8") as fh:
        fh.write(header + "\n")
        for row in rows(0, count):
            fh.write(",".join(row) + "\n")


def _env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.pop("DATABASE_URL", None)
    env.update(
        {
            "ORCH_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
            "ORCH_CONFIG": str(workdir / "orchestrator.toml"),
            "ORCH_PERSONAS_FILE": str(_personas()),
        }
    )
    return env


def _personas() -> Path:
    return Path(__file__).resolve().parents[2] / "config" / "personas.toml"


#: Imports timed, each on a fresh database; the median counts (one run on a 2-core machine
#: varies by a fifth with whatever else wakes up meanwhile).
CSV_RUNS = 3


def _import_once(workdir: Path, path: Path) -> tuple[float, Any]:
    """One timed `contacts import` of `path` into a fresh database in `workdir`."""
    (workdir / "orchestrator.toml").write_text(AGENT_TOML)
    env = _env(workdir)
    cli = [sys.executable, "-m", "orchestrator"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)  # noqa: S603
    create = [*cli, "campaigns", "create", "bench", "--persona", "maya", "--config"]
    policy = workdir / "policy.json"
    policy.write_text(
        '{"allowed_overrides": ["prompt", "first_message", "language", "voice", "tts"]}'
    )
    subprocess.run([*create, str(policy)], env=env, check=True, capture_output=True)  # noqa: S603
    started = time.monotonic()
    with (workdir / "import.log").open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603
            [*cli, "contacts", "import", str(path), "--campaign", "bench"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = (workdir / "import.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"import failed ({proc.returncode}):\n{tail}")
    return seconds, usage


def csv_import() -> list[Figure]:
    """Time the import command on 100,000 rows (median of `CSV_RUNS`) and read its peak RSS."""
    runs: list[tuple[float, Any]] = []
    with tempfile.TemporaryDirectory(prefix="orchestrator-bench-intake-") as tmp:
        path = Path(tmp) / "contacts.csv"
        write_csv(path, CSV_ROWS)
        for n in range(CSV_RUNS):
            workdir = Path(tmp) / f"run{n}"
            workdir.mkdir()
            runs.append(_import_once(workdir, path))
    seconds, usage = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
    rate = CSV_ROWS / seconds
    rss_mb = max(u.ru_maxrss for _, u in runs) / 1024  # kilobytes on Linux
    cpu = usage.ru_utime + usage.ru_stime
    # CPU seconds do not depend on what else the machine runs: they tell a slow run on a busy
    # machine from a slow import.
    print(
        f"   csv: {CSV_ROWS:,} rows in {seconds:.2f} s wall (median of "
        f"{', '.join(f'{s:.2f}' for s, _ in runs)} s), {cpu:.2f} s CPU (import process and its "
        f"validation worker, on {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    return [
        Figure("CSV import, 100,000 contacts", rate, "rows/s", ">= 20,000", rate >= 20_000),
        Figure("CSV import peak RSS", rss_mb, "MB", "<= 300", rss_mb <= 300),
    ]


def _token(stack: LocalStack) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "tokens", "create", "--scope", "crm"],
        env=stack.env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1]


def http_push() -> list[Figure]:
    """Push 100 batches of 1,000 rows to one web process; rows per second."""
    with tempfile.TemporaryDirectory(prefix="orchestrator-bench-http-") as tmp:
        stack = LocalStack(
            workdir=Path(tmp),
            config_toml=AGENT_TOML,
            settings_env={"ORCH_PERSONAS_FILE": str(_personas())},
        )
        with stack:
            stack.start(worker=False)
            headers = {"Authorization": f"Bearer {_token(stack)}"}
            with httpx.Client(base_url=stack.web_url, headers=headers, timeout=60) as http:
                http.post("/v1/campaigns", json={"name": "bench"}).raise_for_status()
                fields = ("external_id", "phone_number", "timezone")
                batches = [
                    {
                        "contacts": [
                            {
                                **dict(zip(fields, row[:3], strict=True)),
                                "variables": {
                                    "customer_name": row[4],
                                    "balance": float(row[5]),
                                    "visits": int(row[6]),
                                    "vip": row[7] == "true",
                                    "plan": row[8],
                                },
                            }
                            for row in rows(b * HTTP_BATCH, HTTP_BATCH)
                        ]
                    }
                    for b in range(HTTP_BATCHES)
                ]
                started = time.monotonic()
                accepted = 0
                for batch in batches:
                    answer = http.post("/v1/campaigns/bench/contacts", json=batch)
                    answer.raise_for_status()
                    accepted += answer.json()["summary"]["accepted"]
                seconds = time.monotonic() - started
    total = HTTP_BATCHES * HTTP_BATCH
    if accepted != total:
        raise RuntimeError(f"only {accepted} of {total} rows were accepted")
    rate = total / seconds
    print(f"   http: {total:,} rows in {HTTP_BATCHES} requests, {seconds:.2f} s", flush=True)
    return [Figure("HTTP bulk push, 1,000-row batches", rate, "rows/s", ">= 5,000", rate >= 5_000)]


def run() -> list[Figure]:
    """Both measurements."""
    return [*csv_import(), *http_push()]
