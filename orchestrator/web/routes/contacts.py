"""Contacts over HTTP: bulk upsert into a campaign, one contact's state, opt-outs.

`POST /v1/campaigns/{campaign}/contacts` takes up to `max_bulk_rows` rows (the same row as the
Redis job `enqueue_call`), upserts the valid ones by external id in one transaction and answers
per row `accepted | updated | unchanged | rejected`, a rejected row with each field and reason.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Request
from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from orchestrator.domain.campaign_policy import policy_of
from orchestrator.domain.phone import normalize_e164
from orchestrator.domain.text import escaped, text_problem
from orchestrator.domain.variables import redact
from orchestrator.errors import InvalidPhoneNumber, NotFound, ValidationFailed
from orchestrator.intake.rows import ContactRow, RowRules, validate_row
from orchestrator.intake.schema import ContactsIn, ValidText
from orchestrator.intake.upsert import upsert_batch
from orchestrator.lifecycle import add_do_not_call
from orchestrator.secretbox import SecretBox
from orchestrator.store import campaigns
from orchestrator.store.models import Attempt, Campaign, Contact
from orchestrator.web.auth import CrmToken, SupervisorToken
from orchestrator.web.deps import app_deps, app_state
from orchestrator.web.idempotency import HEADER, run_once
from orchestrator.web.problems import ApiError, Problem, json_body, responses
from orchestrator.web.state import AppState

router = APIRouter(prefix="/v1", tags=["contacts"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description="Repeat a request with the same key to get the first answer again, "
        "without applying anything twice",
    ),
]


class RowOutcome(BaseModel):
    """What happened to one row of the request."""

    index: int = Field(description="The row's position in `contacts`, from 0")
    external_id: str | None = None
    result: Literal["accepted", "updated", "unchanged", "rejected"]
    contact_id: int | None = None
    disposition: str | None = Field(
        default=None, description="`do_not_call` when the number is on the do-not-call list"
    )
    problems: list[Problem] | None = None
    note: str | None = None


class BulkSummary(BaseModel):
    """Rows per result."""

    accepted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0


class BulkAnswer(BaseModel):
    """The answer to a bulk push."""

    campaign: str
    summary: BulkSummary
    results: list[RowOutcome]


class ContactOut(BaseModel):
    """One contact (`secret__` values masked)."""

    id: int
    campaign: str
    external_id: str
    phone_number: str
    timezone: str | None
    persona: str | None
    variables: dict[str, Any]
    overrides: dict[str, Any]
    disposition: str
    disposition_detail: str | None
    attempts_made: int
    attempts: dict[str, int] = Field(description="The contact's attempts by state")
    last_summary: str | None


class OptOut(ValidText):
    """Why a number goes on the do-not-call list."""

    reason: str = Field(default="opted out via the CRM", max_length=200)


class DoNotCallIn(OptOut):
    """`POST /v1/do-not-call`."""

    phone_number: str


class DoNotCallAnswer(BaseModel):
    """The number now on the do-not-call list and what that stopped."""

    phone_number: str
    canceled_attempts: int = Field(description="Attempts to it canceled, in every campaign")


def _state(request: Request) -> AppState:
    return app_state(request)


def secret_box(request: Request) -> SecretBox:
    """The app's key ring for `secret__` values (built once, in `create_app`)."""
    return app_deps(request).box


def refuse_bad_text(field: str, value: str | int) -> None:
    """A 422 naming `field` when `value` (a path parameter) is text we cannot carry.

    Nothing stored can hold such text, and PostgreSQL refuses a NUL even in a lookup.
    """
    reason = text_problem(value) if isinstance(value, str) else None
    if reason:
        raise ApiError(422, "invalid_request", problems=[(field, reason)])


async def campaign_or_404(s: AsyncSession, ref: str | int) -> Campaign:
    """The campaign by id or name, else a 404 answer."""
    refuse_bad_text("campaign", ref)
    try:
        return await campaigns.get_by_ref(s, ref)
    except NotFound:
        raise ApiError(404, "not_found", f"unknown campaign {ref!r}") from None


def check_rows(
    raw: Any, rules: RowRules, limit: int
) -> tuple[list[RowOutcome], dict[int, ContactRow]]:
    """Validate each row of a bulk body: outcomes for refused rows, valid rows by index."""
    rows = raw.get("contacts") if isinstance(raw, dict) else None
    if not isinstance(rows, list):
        raise ApiError(
            422,
            "invalid_request",
            problems=[("contacts", 'expected an object {"contacts": [row, ...]}')],
        )
    if len(rows) > limit:
        raise ApiError(
            422,
            "invalid_request",
            problems=[("contacts", f"{len(rows)} rows; at most {limit} per request")],
        )
    refused: list[RowOutcome] = []
    valid: dict[int, ContactRow] = {}
    for index, row in enumerate(rows):
        try:
            if not isinstance(row, dict):
                raise ValidationFailed([("(row)", "expected an object")])
            valid[index] = validate_row(row, rules)
        except ValidationFailed as exc:
            ext = row.get("external_id") if isinstance(row, dict) else None
            refused.append(
                RowOutcome(
                    index=index,
                    external_id=str(ext) if isinstance(ext, str | int) else None,
                    result="rejected",
                    problems=[Problem(field=f, reason=r) for f, r in exc.problems],
                )
            )
    return refused, valid


@router.post(
    "/campaigns/{campaign}/contacts",
    response_model=BulkAnswer,
    summary="Upsert up to 1,000 contacts into a campaign",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ContactsIn"}}
            },
        }
    },
    responses=responses(400, 401, 403, 404, 413, 422),
)
async def push_contacts(
    campaign: str, request: Request, token: CrmToken, idempotency_key: IdempotencyKey = None
) -> Any:
    """Each valid row is applied (by external id: new → `accepted`, changed → `updated`, same →
    `unchanged`); each invalid one is `rejected` with its problems. A row for a known contact
    changes the fields it gives and keeps the rest (variables merge by name; null or empty
    removes one); a new contact needs `phone_number` and the agent's required variables. Rows
    repeating an external id fold into the last of them. A new contact gets its first attempt,
    due now."""
    state = _state(request)
    body, raw = await json_body(request, state.settings.max_body_bytes)
    # Rows are checked before the write transaction, which then only writes.
    async with state.db.read() as s:
        found = await campaign_or_404(s, campaign)
    rules = RowRules.for_campaign(state.settings, found.agent_id, policy_of(found.config))
    refused, valid = check_rows(raw, rules, state.settings.max_bulk_rows)

    async def work(s: AsyncSession) -> tuple[int, dict[str, Any]]:
        done = await upsert_batch(s, found, list(valid.values()), secret_box(request))
        by_ext = {u.external_id: u for u in done}
        last = {row.external_id: index for index, row in valid.items()}
        outcomes = list(refused)
        for index, row in valid.items():
            upserted = by_ext[row.external_id]
            superseded = last[row.external_id] != index
            refused_here = upserted.contact_id is None and not superseded
            outcomes.append(
                RowOutcome(
                    index=index,
                    external_id=row.external_id,
                    result="unchanged" if superseded else upserted.result.value,
                    contact_id=upserted.contact_id,
                    disposition=None if refused_here else upserted.disposition,
                    problems=[Problem(field=f, reason=r) for f, r in upserted.problems]
                    if refused_here
                    else None,
                    note=f"superseded by row {last[row.external_id]}" if superseded else None,
                )
            )
        outcomes.sort(key=lambda o: o.index)
        summary = BulkSummary()
        for outcome in outcomes:
            setattr(summary, outcome.result, getattr(summary, outcome.result) + 1)
        answer = BulkAnswer(campaign=found.name, summary=summary, results=outcomes)
        return 200, answer.model_dump(mode="json", exclude_none=True)

    return await run_once(request, token, body, work, idempotency_key)


@router.get(
    "/campaigns/{campaign}/contacts/{external_id}",
    response_model=ContactOut,
    summary="One contact: disposition, attempts, variables (secrets masked)",
    responses=responses(401, 403, 404),
)
async def get_contact(
    campaign: str, external_id: str, request: Request, token: SupervisorToken
) -> ContactOut:
    """The contact as stored; `secret__` values are never shown, and text stored before the text
    rule existed is shown escaped (`\\ud83d`) rather than failing the answer."""
    async with _state(request).db.read() as s:
        found = await campaign_or_404(s, campaign)
        contact = await _contact(s, found, external_id)
        counts = (
            await s.exec(
                select(Attempt.state, func.count())
                .where(Attempt.contact_id == contact.id)
                .group_by(col(Attempt.state))
            )
        ).all()
    assert contact.id is not None
    return ContactOut.model_validate(
        escaped(
            {
                "id": contact.id,
                "campaign": found.name,
                "external_id": contact.external_id,
                "phone_number": contact.phone_number,
                "timezone": contact.timezone,
                "persona": contact.persona,
                "variables": redact(contact.variables),
                "overrides": contact.overrides,
                "disposition": contact.disposition,
                "disposition_detail": contact.disposition_detail,
                "attempts_made": contact.attempts_made,
                "attempts": {state: int(n) for state, n in counts},
                "last_summary": contact.last_summary,
            }
        )
    )


async def _contact(s: AsyncSession, campaign: Campaign, external_id: str) -> Contact:
    refuse_bad_text("external_id", external_id)
    contact = (
        await s.exec(
            select(Contact).where(
                Contact.campaign_id == campaign.id, Contact.external_id == external_id
            )
        )
    ).first()
    if contact is None:
        raise ApiError(
            404, "not_found", f"no contact {external_id!r} in campaign {campaign.name!r}"
        )
    return contact


@router.post(
    "/campaigns/{campaign}/contacts/{external_id}/opt-out",
    response_model=DoNotCallAnswer,
    summary="Opt a contact out: its number goes on the do-not-call list",
    responses=responses(401, 403, 404, 413, 422),
)
async def opt_out(
    campaign: str,
    external_id: str,
    request: Request,
    token: CrmToken,
    payload: Annotated[OptOut | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """The number is never called again from any campaign; pending attempts are canceled."""
    reason = (payload or OptOut()).reason

    async def work(s: AsyncSession) -> tuple[int, dict[str, Any]]:
        found = await campaign_or_404(s, campaign)
        contact = await _contact(s, found, external_id)
        canceled = await add_do_not_call(s, contact.phone_number, reason)
        answer = DoNotCallAnswer(phone_number=contact.phone_number, canceled_attempts=canceled)
        return 200, answer.model_dump(mode="json")

    return await run_once(request, token, await request.body(), work, idempotency_key)


@router.post(
    "/do-not-call",
    response_model=DoNotCallAnswer,
    summary="Put a number on the do-not-call list",
    responses=responses(400, 401, 403, 413, 422),
)
async def do_not_call(
    payload: DoNotCallIn, request: Request, token: CrmToken, idempotency_key: IdempotencyKey = None
) -> Any:
    """Every campaign stops calling the number; pending attempts to it are canceled."""
    try:
        phone = normalize_e164(payload.phone_number, _state(request).settings.default_region)
    except InvalidPhoneNumber as exc:
        raise ApiError(422, "invalid_request", problems=[("phone_number", str(exc))]) from None

    async def work(s: AsyncSession) -> tuple[int, dict[str, Any]]:
        canceled = await add_do_not_call(s, phone, payload.reason)
        return 200, DoNotCallAnswer(phone_number=phone, canceled_attempts=canceled).model_dump()

    return await run_once(request, token, await request.body(), work, idempotency_key)


__all__ = ["ContactsIn", "campaign_or_404", "router", "secret_box"]
