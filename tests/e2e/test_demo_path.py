"""The demo path end to end: real redis-server, sandbox, web and worker processes.

Runs `orchestrator demo --json` on 50 contacts and checks what the provider itself saw against
what we recorded: every contact final, one dial per attempt, the report equal to the sandbox, and
dollars in the report although the command runs far from `config/` (a temporary folder).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator.dev.demo import DEMO_TOML, DEMO_USD_PER_CREDIT, sample_csv
from orchestrator.reports.pricing import load_price

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo_json(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("demo")
    small = folder / "contacts.csv"
    with sample_csv().open() as src, small.open("w", newline="") as dst:
        rows = list(csv.DictReader(src))[:50]
        writer = csv.DictWriter(dst, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "SANDBOX_"))}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator",
            "demo",
            "--json",
            "--contacts",
            str(small),
            "--timeout",
            "150",
        ],
        capture_output=True,
        env=env,
        cwd=folder,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-4000:]
    result: dict[str, Any] = json.loads(done.stdout)
    result["_folder"] = os.path.realpath(folder)
    return result


def test_every_contact_ends_final(demo_json: dict[str, Any]) -> None:
    report = demo_json["report"]
    assert report["contacts"] == 50
    assert report["contacts_final"] == 50
    assert report["all_final"] is True
    assert "pending" not in report["dispositions"]
    assert "in_progress" not in report["dispositions"]


def test_dial_log_holds_exactly_one_dial_per_attempt(demo_json: dict[str, Any]) -> None:
    sandbox, report = demo_json["sandbox"], demo_json["report"]
    assert sandbox["dials"] > 0
    assert sandbox["duplicate_dials"] == 0
    assert sandbox["unmatched_dials"] == 0
    assert sandbox["distinct_attempts_dialled"] == sandbox["dials"] == report["dials"]
    assert sandbox["max_live_per_number"] == 1
    assert sandbox["overlapping_number_dials"] == 0
    assert sandbox["rejected_concurrency"] == 0


def test_report_totals_equal_the_sandboxs_counts(demo_json: dict[str, Any]) -> None:
    sandbox, report = demo_json["sandbox"], demo_json["report"]
    outcomes = sandbox["outcomes"]
    states = report["attempts_by_state"]
    assert report["successes"] == outcomes.get("success", 0)
    assert report["answered"] == outcomes.get("success", 0) + outcomes.get("failure", 0)
    assert report["voicemails"] == outcomes.get("voicemail", 0) == states.get("voicemail", 0)
    assert states.get("no_answer", 0) == outcomes.get("no_answer", 0)
    assert states.get("busy", 0) == outcomes.get("busy", 0)
    assert states.get("failed", 0) == outcomes.get("failed", 0)
    assert sum(outcomes.values()) == sandbox["dials"]


def test_demo_leaves_no_process_behind(demo_json: dict[str, Any]) -> None:
    # Every process the demo started inherited its working directory (the test's folder); none
    # of them may still be running once the command has returned. Matching on the folder, not
    # on command lines, ignores whatever else runs on the machine.
    folder = demo_json["_folder"]
    leftovers = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.readlink(proc / "cwd") == folder:
                leftovers.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    assert leftovers == []
    assert demo_json["seconds"] > 0


def test_the_report_shows_dollars_from_any_working_directory(demo_json: dict[str, Any]) -> None:
    report = demo_json["report"]
    costs = report["costs"]
    assert costs["credits"] > 0
    assert costs["usd"] == pytest.approx(costs["credits"] * DEMO_USD_PER_CREDIT, rel=1e-3)
    assert costs["usd_per_reached_contact"] > 0


def test_the_demo_bills_at_the_price_list_figure_of_its_plan() -> None:
    assert 'plan = "pro"' in DEMO_TOML
    price = load_price(Path(__file__).parents[2] / "config" / "pricing.toml", "pro")
    assert price is not None
    assert price.usd_per_credit == DEMO_USD_PER_CREDIT
