"""What the HTTP API tests share: the app served on loopback over a real SQLite database and a
real redis-server, tokens of both scopes, and personas of the test agent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr

from orchestrator.domain.persona import Persona
from orchestrator.secretbox import SecretBox
from orchestrator.settings import Settings
from orchestrator.store.engine import Database
from orchestrator.store.tokens import create_token
from orchestrator.web.app import create_app
from tests.conftest import AGENT
from tests.support.servers import serve

KEY = SecretBox.generate_key()

PERSONAS = {
    "calm": Persona(agent_id=AGENT, first_message="Hello {{customer_name}}", voice_id="v_calm"),
    "brisk": Persona(agent_id=AGENT, voice_id="v_brisk", speed=1.1),
    "other_agent": Persona(agent_id="agent_other", voice_id="v_x"),
}


@dataclass
class Api:
    """A served app and clients for it."""

    http: httpx.AsyncClient  # authenticated with the crm token
    url: str
    crm: str
    supervisor: str
    settings: Settings
    db: Database

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        """Another client, with `token` (or none)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture
async def api(settings: Settings, db: Database, redis_server: str) -> AsyncIterator[Api]:
    """The app on loopback with a crm and a supervisor token."""
    resolved = settings.model_copy(
        update={
            "redis_url": redis_server,
            "personas": PERSONAS,
            "secret_keys": [SecretStr(KEY)],
        }
    )
    async with db.session() as s:
        crm = await create_token(s, "crm", "crm")
        supervisor = await create_token(s, "reports", "supervisor")
    async with serve(create_app(resolved)) as url:
        http = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {crm.secret}"}, timeout=30
        )
        async with http:
            yield Api(http, url, crm.secret, supervisor.secret, resolved, db)
