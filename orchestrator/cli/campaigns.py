"""`orchestrator campaigns create|update|list|show`: campaigns from the command line.

The same fields and checks as the HTTP API (`intake/campaign_spec.py`): options for the common
fields, `--config FILE` (JSON or TOML) for the whole policy; `update` applies a merge patch.
"""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from orchestrator.cli.base import campaigns_app, console, err, fail, settings
from orchestrator.errors import CampaignExists, NotFound, ValidationFailed
from orchestrator.intake.campaign_spec import (
    CampaignOut,
    CampaignSaved,
    campaign_out,
    current_fields,
    resolve_create,
    resolve_patch,
    saved,
    signing_warning,
)
from orchestrator.intake.unreadable import unreadable
from orchestrator.settings import Settings
from orchestrator.store import campaigns as repo
from orchestrator.store.engine import Database

T = TypeVar("T")

NameArg = Annotated[str, typer.Argument(help="Campaign name (or id for show/update)")]
AgentOpt = Annotated[str | None, typer.Option("--agent", help="Agent id (default ORCH_AGENT_ID)")]
NumberOpt = Annotated[
    str | None, typer.Option("--phone-number-id", help="Provider phone-number id")
]
KindOpt = Annotated[str | None, typer.Option("--kind", help="twilio or sip_trunk")]
PersonaOpt = Annotated[str | None, typer.Option(help="Persona from personas.toml")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="JSON or TOML file with policy fields (calling_hours, retry, burst, "
        "allowed_overrides, default_variables...)",
    ),
]


def _read_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise fail(f"{path}: no such file", 2) from None
    except UnicodeDecodeError:
        raise fail(f"{path}: not UTF-8 text; save it as UTF-8", 2) from None
    except OSError as exc:
        raise fail(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})", 2) from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Its message is where and what: "Expected '=' after a key (at line 1, column 8)".
        raise fail(f"{path}: not valid TOML: {exc}", 2) from None
    except (ValueError, RecursionError) as exc:
        raise fail(f"{path} {unreadable(exc) or 'is not JSON'}", 2) from None
    if not isinstance(data, dict):
        raise fail(f"{path}: expected an object of campaign fields", 2)
    return data


def _given(config: Path | None, **options: Any) -> dict[str, Any]:
    data = _read_config(config)
    data.update({k: v for k, v in options.items() if v is not None})
    return data


def _run(work: Callable[[Database, Settings], Awaitable[T]]) -> T:
    resolved = settings()

    async def run() -> T:
        db = Database(resolved.database_url)
        try:
            return await work(db, resolved)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except ValidationFailed as exc:
        problems = "\n".join(f"  {field}: {reason}" for field, reason in exc.problems)
        raise fail(f"invalid campaign:\n{problems}", 2) from None
    except (NotFound, CampaignExists) as exc:
        raise fail(str(exc)) from None


def _print(campaign: CampaignOut) -> None:
    console.print_json(campaign.model_dump_json())
    if isinstance(campaign, CampaignSaved):
        for warning in campaign.warnings:
            err.print(f"[yellow]warning:[/yellow] {warning.field}: {warning.reason}")


def _warn_unsigned(policy: dict[str, Any]) -> None:
    """Outside prod a campaign may notify a CRM unsigned (prod refuses it): say so on stderr."""
    problem = signing_warning(policy)
    if problem:
        err.print(
            f"[yellow]warning:[/yellow] CRM notifications of this campaign will be sent "
            f"UNSIGNED (refused with ORCH_ENV=prod): {escape(problem)}"
        )


@campaigns_app.command("create")
def create(
    name: NameArg,
    agent: AgentOpt = None,
    phone_number_id: NumberOpt = None,
    kind: KindOpt = None,
    persona: PersonaOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Create a campaign (refused with each field named when it is invalid)."""
    data = _given(
        config,
        name=name,
        agent_id=agent,
        phone_number_id=phone_number_id,
        phone_number_kind=kind,
        persona=persona,
    )

    async def work(db: Database, resolved: Settings) -> CampaignOut:
        campaign_name, columns, policy = resolve_create(data, resolved)
        _warn_unsigned(policy)
        async with db.session() as s:
            created = await repo.create_campaign(s, campaign_name, config=policy, **columns)
            return saved(created, resolved)

    _print(_run(work))


@campaigns_app.command("update")
def update(
    name: NameArg,
    agent: AgentOpt = None,
    phone_number_id: NumberOpt = None,
    kind: KindOpt = None,
    persona: PersonaOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Change the given fields only (a JSON merge patch: in the file, null resets a field)."""
    patch = _given(
        config,
        agent_id=agent,
        phone_number_id=phone_number_id,
        phone_number_kind=kind,
        persona=persona,
    )

    async def work(db: Database, resolved: Settings) -> CampaignOut:
        async with db.session() as s:
            found = await repo.get_by_ref(s, name)
            columns, policy = resolve_patch(current_fields(found), patch, resolved)
            _warn_unsigned(policy)
            return saved(await repo.update_campaign(s, found, config=policy, **columns), resolved)

    _print(_run(work))


@campaigns_app.command("list")
def list_() -> None:
    """Every campaign with its agent, persona and status."""

    async def work(db: Database, _resolved: Settings) -> list[CampaignOut]:
        async with db.session() as s:
            return [campaign_out(c) for c in await repo.list_campaigns(s)]

    table = Table(title="Campaigns")
    for column in ("id", "name", "status", "agent", "number", "persona", "weight"):
        table.add_column(column)
    for c in _run(work):
        table.add_row(
            str(c.id),
            c.name,
            c.status,
            c.agent_id or "",
            c.phone_number_id or "",
            c.persona or "",
            str(c.weight),
        )
    console.print(table)


@campaigns_app.command("show")
def show(name: NameArg) -> None:
    """One campaign's fields, as JSON (the same as `GET /v1/campaigns/{id}`)."""

    async def work(db: Database, _resolved: Settings) -> CampaignOut:
        async with db.session() as s:
            return campaign_out(await repo.get_by_ref(s, name))

    _print(_run(work))
