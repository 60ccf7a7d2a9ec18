"""The documentation site builds with `mkdocs build --strict`: every link and anchor resolves,
and the generated references (every setting, every HTTP route with its scope) can be built from
the code as it is. CI runs `make docs` too; this keeps `make test` honest on its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_site_builds_strictly_with_every_setting_and_route(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "SANDBOX_"))}
    env["NO_MKDOCS_2_WARNING"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    configuration = (tmp_path / "configuration" / "index.html").read_text()
    for name in ("database_url", "ORCH_SECRET_KEYS", "retry.max_attempts", "SANDBOX_TIME_SCALE"):
        assert name in configuration
    api = (tmp_path / "contracts" / "http-api" / "index.html").read_text()
    assert "/v1/campaigns/{campaign}/contacts" in api
    assert (tmp_path / "openapi.json").is_file()
