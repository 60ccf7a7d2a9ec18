"""Serving the sandbox with uvicorn: blocking (`run`, for the CLI), awaitable (`serve`), or in the
background of a running event loop (`running`, for tests and benchmarks).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from orchestrator.dev.sandbox.app import create_app
from orchestrator.dev.sandbox.config import SandboxConfig
from orchestrator.dev.sandbox.state import Sandbox

#: Seconds uvicorn waits for open requests on shutdown before cancelling them.
GRACEFUL_SHUTDOWN_SECS = 5
#: Seconds an idle keep-alive connection stays open.
KEEP_ALIVE_SECS = 75


def _uvicorn_config(
    app: FastAPI, host: str, port: int, log_level: str, *, own_logging: bool = True
) -> uvicorn.Config:
    extra: dict[str, Any] = {} if own_logging else {"log_config": None}
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        # No websockets are served; "none" also keeps the websockets package from importing.
        ws="none",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECS,
        # Longer than clients' pool expiry (httpx: 5 s), so the server never closes a kept-alive
        # connection at the instant a client reuses it (a spurious reset on a non-idempotent POST).
        timeout_keep_alive=KEEP_ALIVE_SECS,
        **extra,
    )


def run(config: SandboxConfig) -> None:
    """Serve the sandbox on `config.host:config.port` until interrupted (blocks)."""
    server = uvicorn.Server(_uvicorn_config(create_app(config), config.host, config.port, "info"))
    with contextlib.suppress(KeyboardInterrupt):
        # uvicorn shuts down gracefully, then re-raises the Ctrl-C it captured; that is no error.
        server.run()


async def serve(config: SandboxConfig) -> None:
    """Serve the sandbox inside the current event loop until the task is cancelled."""
    await uvicorn.Server(
        _uvicorn_config(create_app(config), config.host, config.port, "info")
    ).serve()


@dataclass(frozen=True)
class RunningApp:
    """An app being served in the background: where it listens."""

    app: FastAPI
    base_url: str
    port: int


@dataclass(frozen=True)
class RunningSandbox(RunningApp):
    """A sandbox being served in the background, with its state at hand for assertions."""

    sandbox: Sandbox


@contextlib.asynccontextmanager
async def running_app(
    app: FastAPI, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningApp]:
    """Serve any ASGI app on a real socket for the duration of the block (port 0: a free one)."""
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto says
    # TCP, and without it every keep-alive request waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    # Leave the host process's logging alone (uvicorn would otherwise install its own config).
    server = uvicorn.Server(_uvicorn_config(app, host, bound, "warning", own_logging=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # surfaces the startup error
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        yield RunningApp(app=app, base_url=f"http://{host}:{bound}", port=bound)
    finally:
        state = getattr(app.state, "sandbox", None)
        if isinstance(state, Sandbox):
            state.closing.set()  # release requests hung on purpose before uvicorn waits on them
        server.should_exit = True
        try:
            await task
        finally:
            sock.close()


@contextlib.asynccontextmanager
async def running(config: SandboxConfig) -> AsyncIterator[RunningSandbox]:
    """Serve a sandbox built from `config` in the background (port 0 in `config`: a free one)."""
    app = create_app(config)
    async with running_app(app, config.host, config.port) as served:
        sandbox: Sandbox = app.state.sandbox
        yield RunningSandbox(app=app, base_url=served.base_url, port=served.port, sandbox=sandbox)
