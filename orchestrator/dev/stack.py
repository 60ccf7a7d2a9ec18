"""A whole local system in subprocesses: redis-server, the sandbox provider, web and worker.

Used by `orchestrator demo`, the end-to-end tests and the benchmarks, so all three exercise the
same real parts: a real redis-server, SQLite through SQLModel, real HTTP over loopback. Every
process runs in its own session so it can be stopped with everything it started, on Ctrl-C too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from orchestrator.settings import SANDBOX_API_KEY, SANDBOX_WEBHOOK_SECRET


class StackError(RuntimeError):
    """A part of the local stack could not be started."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_reachable(url: str, timeout: float = 0.5) -> bool:
    """True when a Redis server answers PING at `url`."""
    import redis

    from orchestrator.redis_url import parse

    try:
        client = redis.Redis(
            **parse(url).redis_py_kwargs(), socket_connect_timeout=timeout, socket_timeout=timeout
        )
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@dataclass
class Process:
    """One started subprocess and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class LocalStack:
    """Starts and stops the parts; `env` is what web and worker processes get."""

    workdir: Path
    sandbox_options: dict[str, str] = field(default_factory=dict)
    settings_env: dict[str, str] = field(default_factory=dict)
    config_toml: str | None = None
    redis_url: str | None = None
    processes: list[Process] = field(default_factory=list)
    stopped: bool = False
    #: Where web and workers keep their rows; empty: a SQLite file in `workdir`. A Postgres URL
    #: here runs the multi-worker deployment (see `tests.support.postgres` for a throwaway cluster).
    database_url: str = ""
    #: Start redis-server with its append-only file synced on every write, so `restart_redis`
    #: (even after SIGKILL) loses nothing Redis acknowledged — the managed-Redis persistence
    #: the deployment guide asks for.
    redis_aof: bool = False
    #: Where the sandbox posts its webhooks; empty: our web app. Tests put a recording proxy
    #: in between to learn which deliveries were answered 2xx (accepted).
    webhook_url: str = ""

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.web_port = free_port()
        self.sandbox_port = free_port()
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.workdir / 'orchestrator.db'}"
        self._redis_argv: list[str] = []

    # ---- addresses -------------------------------------------------------------------------
    @property
    def web_url(self) -> str:
        """Base URL of the web app."""
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def sandbox_url(self) -> str:
        """Base URL of the sandbox provider."""
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def env(self) -> dict[str, str]:
        """Environment of the orchestrator's own processes."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "SANDBOX_"))}
        for name in ("DATABASE_URL", "REDIS_URL", "ELEVENLABS_API_KEY", "PORT"):
            env.pop(name, None)
        env.update(
            {
                "ORCH_DATABASE_URL": self.database_url,
                "ORCH_REDIS_URL": self.redis_url or "",
                "ORCH_SANDBOX_PORT": str(self.sandbox_port),
                "ORCH_WEB_PORT": str(self.web_port),
                "ORCH_AUDIO_DIR": str(self.workdir / "audio"),
                "ORCH_CONFIG": str(self.workdir / "orchestrator.toml"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.settings_env)
        return env

    def pin_calendar(self, start: datetime, rate: float = 1.0) -> None:
        """Run every process's calendar from `start` (read now) at `rate`× real speed.

        All processes get the same anchor, so they agree on the calendar to the millisecond.
        """
        self.settings_env.update(
            {
                "ORCH_CLOCK_START": start.isoformat(),
                "ORCH_CLOCK_ANCHOR": repr(time.time()),
                "ORCH_CLOCK_RATE": repr(rate),
            }
        )

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self, *, web: bool = True, worker: bool = True) -> None:
        """Start redis (unless reused), the sandbox, then web and worker; wait until they answer."""
        (self.workdir / "orchestrator.toml").write_text(self.config_toml or "")
        try:
            self._start_redis()
            self.start_sandbox()
            self.upgrade_db()
            if web:
                self.start_web()
            if worker:
                self.start_worker()
        except BaseException:
            # Whatever did start must not outlive a failed start (the caller gets the error).
            self.stop()
            raise

    def _start_redis(self) -> None:
        if self.redis_url and redis_reachable(self.redis_url):
            return
        binary = shutil.which("redis-server")
        if binary is None:
            raise StackError("redis-server is not installed (Debian: apt-get install redis-server)")
        port = free_port()
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.redis_aof
            else ["--appendonly", "no"]
        )
        self._redis_argv = [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            *persistence,
            "--dir",
            str(self.workdir),
        ]
        self._spawn("redis", self._redis_argv)
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        self._wait_redis()

    def _wait_redis(self) -> None:
        deadline = time.monotonic() + 10
        while not (self.redis_url and redis_reachable(self.redis_url)):
            if time.monotonic() > deadline:
                raise StackError("redis-server did not start; see " + str(self._log("redis")))
            time.sleep(0.05)

    def restart_redis(
        self, *, kill: bool = True, while_down: Callable[[], object] | None = None
    ) -> None:
        """Stop the redis-server this stack started (SIGKILL by default), then start it again
        on the same port and folder, so it reloads its append-only file (`redis_aof`).

        `while_down` runs between the two (e.g. waits until clients have seen the outage).
        """
        proc = next((p for p in self.processes if p.name == "redis"), None)
        if proc is None or not self._redis_argv:
            raise StackError("this stack did not start the redis-server it uses")
        self.stop_process(proc, kill=kill)
        if proc in self.processes:
            self.processes.remove(proc)
        try:
            if while_down is not None:
                while_down()
        finally:
            # Started first again, it stops last (stop() goes newest first otherwise).
            self._spawn("redis", self._redis_argv)
            self.processes.insert(0, self.processes.pop())
            self._wait_redis()

    def start_sandbox(self) -> None:
        """Start the sandbox provider, posting webhooks to our web app."""
        args = [
            "sandbox",
            "--port",
            str(self.sandbox_port),
            "--webhook-url",
            self.webhook_url or f"{self.web_url}/webhooks/elevenlabs/post-call",
            "--webhook-secret",
            SANDBOX_WEBHOOK_SECRET,
        ]
        env = self.env
        for key, value in self.sandbox_options.items():
            env[f"SANDBOX_{key.upper()}"] = value
        self._spawn("sandbox", [*self._cli(), *args], env=env)
        self.wait_http(f"{self.sandbox_url}/sandbox/health", "sandbox")

    def upgrade_db(self) -> None:
        """Run the migrations (a short-lived process, like an operator would)."""
        done = subprocess.run(  # noqa: S603
            [*self._cli(), "db", "upgrade"], env=self.env, capture_output=True, check=False
        )
        if done.returncode != 0:
            raise StackError("db upgrade failed: " + done.stderr.decode()[-2000:])

    def start_web(self) -> None:
        """Start `orchestrator web` and wait for /healthz."""
        self._spawn("web", [*self._cli(), "web"], env=self.env)
        self.wait_http(f"{self.web_url}/healthz", "web")

    def start_worker(self, name: str = "worker") -> Process:
        """Start one `orchestrator worker` process."""
        return self._spawn(name, [*self._cli(), "worker"], env=self.env)

    def stop(self) -> None:
        """Stop every process started, newest first (TERM, then KILL after a grace period).

        A stopped stack starts nothing more: a supervisor thread racing the shutdown cannot leave
        an orphan behind.
        """
        self.stopped = True
        for proc in reversed(self.processes):
            self.stop_process(proc)
        self.processes.clear()

    def stop_process(self, proc: Process, *, kill: bool = False, grace: float = 10.0) -> None:
        """Stop one process and its children."""
        if proc.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(5)
        if proc in self.processes and proc.popen.poll() is not None and kill:
            self.processes.remove(proc)

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _cli() -> list[str]:
        return [sys.executable, "-m", "orchestrator"]

    def _log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Process:
        if self.stopped:
            raise StackError(f"the stack is stopped; not starting {name}")
        log_path = self._log(name)
        log = log_path.open("ab")
        popen = subprocess.Popen(  # noqa: S603
            argv,
            env=dict(env) if env is not None else None,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        proc = Process(name, popen, log_path)
        self.processes.append(proc)
        return proc

    def wait_http(self, url: str, name: str, timeout: float = 60.0) -> None:
        """Wait until `url` answers 2xx; fail with the process's log tail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = next((p for p in self.processes if p.name == name), None)
            if proc is not None and proc.popen.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=1.0).is_success:
                    return
            time.sleep(0.1)
        tail = (
            self._log(name).read_text(errors="replace")[-3000:] if self._log(name).exists() else ""
        )
        raise StackError(f"{name} did not come up at {url}:\n{tail}")

    def sandbox_get(self, path: str) -> httpx.Response:
        """GET from the sandbox with its key."""
        return httpx.get(
            f"{self.sandbox_url}{path}", headers={"xi-api-key": SANDBOX_API_KEY}, timeout=30
        )
