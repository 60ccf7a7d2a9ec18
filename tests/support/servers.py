"""Run ASGI apps on loopback inside the test's event loop (real HTTP, no mocks)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from orchestrator.dev.sandbox.server import running_app


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free loopback port; yields its base URL."""
    async with running_app(app) as served:
        yield served.base_url
