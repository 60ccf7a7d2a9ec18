"""A throwaway PostgreSQL cluster for tests and local trials of the multi-worker deployment.

`PostgresCluster` runs Debian's `postgresql` binaries (`/usr/lib/postgresql/<version>/bin`, or
whatever `initdb` is on `PATH`) against a fresh data directory: `initdb` with trust auth, a
postmaster listening on 127.0.0.1 only (no Unix socket) on a free port, one database created.
`stop()` shuts it down fast and deletes the directory.

`initdb` and `postgres` refuse to run as root, so when we are root both run as the `postgres`
system user (which the Debian package creates); the data directory is then made under the system
temporary folder (not a pytest folder: those are private to root) and handed to that user.

Durability is switched off (`fsync`, `synchronous_commit`, `full_page_writes`): the cluster lives
for one test on a shared two-core machine, and what the tests prove — compare-and-set claims,
row locks, transactions — does not depend on the disk. Never copy these settings to production.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.dev.stack import StackError
from tests.support.ports import free_port

#: The system user Debian's package runs the server as; used when we are root.
SYSTEM_USER = "postgres"
#: Server settings for a disposable test cluster (see the module docstring).
TEST_SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "max_connections": "300",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "64MB",
}


def find_bindir() -> Path | None:
    """The folder holding `initdb`, `postgres` and `createdb`: the newest Debian version first."""
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted(
            (p for p in debian.iterdir() if (p / "bin" / "initdb").is_file()),
            key=lambda p: [int(part) for part in p.name.split(".") if part.isdigit()],
            reverse=True,
        )
        if versions:
            return versions[0] / "bin"
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def available() -> bool:
    """True when a PostgreSQL server can be started here."""
    return find_bindir() is not None


@dataclass
class PostgresCluster:
    """One disposable cluster; `url` is a `postgresql://` URL of its database."""

    database: str = "orchestrator"
    settings: dict[str, str] = field(default_factory=lambda: dict(TEST_SERVER_SETTINGS))
    port: int = field(default_factory=free_port)
    root: Path | None = None
    _server: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where the database is (superuser `postgres`, trusted on loopback: no password)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        assert self.root is not None, "the cluster was not started"
        return self.root / "postgres.log"

    def start(self, timeout: float = 60.0) -> None:
        """initdb, start the server, wait until it accepts connections, create the database."""
        bindir = find_bindir()
        if bindir is None:
            raise StackError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
        self.root = Path(tempfile.mkdtemp(prefix="orchestrator-pg-"))
        data = self.root / "data"
        data.mkdir()
        user = self._run_as()
        if user is not None:
            # The server's user needs the folder; nothing else on the machine does (mode 0700).
            for path in (self.root, data):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            user,
        )
        argv = [str(bindir / "postgres"), "-D", str(data), "-p", str(self.port)]
        for name, value in self.settings.items():
            argv += ["-c", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            self._server = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **self._user_kwargs(user),
            )
        self._wait_ready(bindir, timeout)
        self.create_database(self.database)

    def create_database(self, name: str) -> str:
        """Create another database in the running cluster; returns its URL."""
        bindir = find_bindir()
        assert bindir is not None and self._server is not None, "the cluster is not running"
        createdb = [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port)]
        self._run([*createdb, "-U", "postgres", name], self._run_as())
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Fast shutdown (SIGINT: roll back open transactions), then delete the files."""
        server, self._server = self._server, None
        if server is not None and server.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                server.send_signal(signal.SIGINT)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _run_as() -> pwd.struct_passwd | None:
        """The unprivileged user to run the server as, or None when we are not root."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise StackError(
                f"running as root needs the {SYSTEM_USER!r} system user (Debian's postgresql "
                "package creates it)"
            ) from None

    @staticmethod
    def _user_kwargs(user: pwd.struct_passwd | None) -> dict[str, Any]:
        if user is None:
            return {}
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "cwd": "/"}

    def _run(self, argv: list[str], user: pwd.struct_passwd | None) -> None:
        done = subprocess.run(
            argv, capture_output=True, check=False, timeout=120, **self._user_kwargs(user)
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
            raise StackError(f"{Path(argv[0]).name} failed:\n{output}")

    def _wait_ready(self, bindir: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        probe = [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"]
        while time.monotonic() < deadline:
            if self._server is not None and self._server.poll() is not None:
                break
            if subprocess.run(probe, check=False, timeout=10).returncode == 0:
                return
            time.sleep(0.1)
        tail = self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""
        raise StackError(f"postgres did not start on port {self.port}:\n{tail}")
