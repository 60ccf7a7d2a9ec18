"""`orchestrator campaigns pause|resume|cancel NAME`: stop and restart a campaign's calling."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated

import typer

from orchestrator.cli.base import campaigns_app, console, fail, settings
from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.store.engine import Database
from orchestrator.store.models import Campaign

Action = Callable[[Database, Campaign], Awaitable[int]]

NameArg = Annotated[str, typer.Argument(help="Campaign name")]


def _run(name: str, action: Action) -> tuple[int, str]:
    """Apply `action` to the campaign called `name`; (attempts affected, status after)."""
    from orchestrator.store import campaigns

    resolved = settings()

    async def run() -> tuple[int, str]:
        db = Database(resolved.database_url)
        try:
            async with db.session() as s:
                campaign = await campaigns.get_by_name(s, name)
            affected = await action(db, campaign)
            return affected, campaign.status
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except NotFound as exc:
        raise fail(str(exc)) from None
    except ValidationFailed as exc:
        raise fail(f"campaign {name!r}: {exc}") from None


@campaigns_app.command("pause")
def pause(name: NameArg) -> None:
    """Stop dialing new calls (live calls end normally); queued attempts wait for resume."""
    from orchestrator.scheduling.control import pause_campaign

    affected, status = _run(name, pause_campaign)
    console.print(f"campaign {name!r} is {status}: {affected} pending attempts on hold")


@campaigns_app.command("resume")
def resume(name: NameArg) -> None:
    """Dial a paused campaign again, as its attempts fall due inside their calling windows."""
    from orchestrator.scheduling.control import resume_campaign

    affected, status = _run(name, resume_campaign)
    console.print(f"campaign {name!r} is {status}: {affected} pending attempts resume")


@campaigns_app.command("cancel")
def cancel(name: NameArg) -> None:
    """Cancel every scheduled and queued attempt, even ones already queued; cannot be undone."""
    from orchestrator.scheduling.control import cancel_campaign

    affected, status = _run(name, cancel_campaign)
    console.print(f"campaign {name!r} is {status}: {affected} attempts canceled")
