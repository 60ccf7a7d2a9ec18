"""Inbound personalization: `personalization rebuild` and `sandbox inbound`."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from sqlmodel import col, select

from orchestrator.cli.base import app, console, fail, settings
from orchestrator.cli.processes import sandbox_app
from orchestrator.settings import Settings

personalization_app = typer.Typer(
    help="Precomputed answers of the inbound personalization webhook.", no_args_is_help=True
)
app.add_typer(personalization_app, name="personalization")


@personalization_app.command()
def rebuild() -> None:
    """Rebuild every precomputed answer now (workers also do it when the configuration changes)."""
    resolved = settings()
    written = asyncio.run(_rebuild(resolved))
    console.print(f"{written} personalization records written")


async def _rebuild(resolved: Settings) -> int:
    from orchestrator.personalization.refresher import Refresher
    from orchestrator.redis_conn import redis_client
    from orchestrator.secretbox import SecretBox
    from orchestrator.store.engine import Database

    db = Database(resolved.database_url)
    redis = redis_client(resolved.redis_url)
    box = SecretBox([k.get_secret_value() for k in resolved.secret_keys])
    try:
        return await Refresher(resolved, db, redis, box).rebuild()
    finally:
        await redis.aclose()
        await db.dispose()


async def _callers(resolved: Settings, agent_id: str, limit: int = 1000) -> list[str]:
    """Numbers of contacts of the agent's campaigns (the known callers to play)."""
    from orchestrator.store.engine import Database
    from orchestrator.store.models import Campaign, Contact

    db = Database(resolved.database_url)
    try:
        async with db.read() as s:
            rows = await s.exec(
                select(Contact.phone_number)
                .join(Campaign, col(Campaign.id) == col(Contact.campaign_id))
                .where(col(Campaign.agent_id) == agent_id)
                .distinct()
                .limit(limit)
            )
            return list(rows.all())
    except Exception:
        return []  # no database: every caller is a stranger
    finally:
        await db.dispose()


@sandbox_app.command()
def inbound(
    rate: Annotated[
        float, typer.Option(help="Inbound calls per second", min=0.1, max=10_000)
    ] = 10.0,
    duration: Annotated[
        float, typer.Option(help="Seconds to play calls for", min=0.1, max=86400)
    ] = 10.0,
    url: Annotated[str | None, typer.Option(help="The webhook (default: the public URL's)")] = None,
    agent: Annotated[str | None, typer.Option(help="Agent called (default: the default)")] = None,
    called_number: Annotated[str, typer.Option(help="Our number being called")] = "+14155550100",
    unknown_share: Annotated[
        float, typer.Option(help="Share of callers who are not contacts", min=0.0, max=1.0)
    ] = 0.1,
    timeout: Annotated[
        float, typer.Option(help="Seconds the provider waits", min=0.1, max=600)
    ] = 10.0,
) -> None:
    """Play inbound calls against the personalization webhook; print latency and failures."""
    from orchestrator.personalization.player import play
    from orchestrator.personalization.request import accepted_secrets
    from orchestrator.web.routes.personalization import PATH

    resolved = settings()
    agent_id = agent or resolved.agent_id
    target = url or resolved.public_url.rstrip("/") + PATH
    secrets = accepted_secrets(resolved)
    headers = {resolved.personalization_header: secrets[0].decode()} if secrets else {}
    callers = asyncio.run(_callers(resolved, agent_id))
    declared = list(resolved.agent(agent_id).variables)
    console.print(
        f"playing {rate:g} calls/s for {duration:g} s against {target} "
        f"({len(callers)} known callers, {unknown_share:.0%} strangers)"
    )
    result = asyncio.run(
        play(
            target,
            agent_id=agent_id,
            called_number=called_number,
            callers=callers,
            declared=declared,
            headers=headers,
            rate=rate,
            duration=duration,
            unknown_share=unknown_share,
            timeout=timeout,
        )
    )
    console.print(
        f"{result.calls} calls in {result.elapsed:.1f} s: latency p50 {result.percentile(50):.1f} "
        f"ms, p95 {result.percentile(95):.1f} ms, p99 {result.percentile(99):.1f} ms; "
        f"errors {result.errors}, shape failures {result.shape_failures}"
    )
    for example in result.examples:
        console.print(f"  {example}")
    if result.errors or result.shape_failures:
        raise fail(f"{result.errors + result.shape_failures} calls would not have started")
