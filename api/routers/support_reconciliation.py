"""Support staff and reconciliation breaks (SPEC §7): list and filter, see a break with the
receipt's timeline beside the provider's row, ask the provider, resolve."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Context, SupportStaff
from api.free_text import FreeText
from api.routers.support import masked_actor
from api.schemas import Strict
from api.views import mask
from domain.reconciliation import BreakKind
from services import reconciliation
from storage.models.settlement import ReconciliationBreak

router = APIRouter(prefix="/v1/support/reconciliation", tags=["support"])

KINDS = Literal["missing_at_provider", "missing_at_hub", "points_mismatch", "statement_missing"]


class HubSide(BaseModel):
    state: str | None = Field(description="the receipt's state when found; null: no such receipt")
    points: int | None


class ProviderSide(BaseModel):
    points: int
    provider_reference: str | None
    credited_at: datetime | None = None


class BreakOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "break_id": "brk_42",
                    "kind": "points_mismatch",
                    "receipt_id": "app_3f…-g1-r1",
                    "provider_id": "paysim",
                    "business_date": "2026-12-04",
                    "hub": {"state": "credited", "points": 1000},
                    "provider": {"points": 1100, "provider_reference": "PS-0042"},
                    "status": "open",
                    "opened_at": "2026-12-05T02:00:03+00:00",
                }
            ]
        }
    )

    break_id: str
    kind: str
    receipt_id: str | None = None
    provider_id: str
    business_date: date
    hub: HubSide | None = None
    provider: ProviderSide | None = None
    status: str
    opened_at: datetime
    municipality_code: str | None = None
    measure_id: str | None = None
    resolution: str | None = None
    note: str | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None


class BreakPage(BaseModel):
    items: list[BreakOut]
    next_cursor: str | None


def break_out(row: ReconciliationBreak) -> BreakOut:
    hub = None
    if row.kind == BreakKind.STATEMENT_MISSING.value or row.hub_state is not None:
        hub = HubSide(state=row.hub_state, points=row.hub_points)
    elif row.receipt_id:
        hub = HubSide(state=None, points=None)
    provider = None
    if row.provider_points is not None:
        provider = ProviderSide(
            points=row.provider_points,
            provider_reference=row.provider_reference,
            credited_at=row.provider_credited_at,
        )
    return BreakOut(
        break_id=reconciliation.break_id_of(row),
        kind=row.kind,
        receipt_id=row.receipt_id,
        provider_id=row.provider_id,
        business_date=row.business_date,
        hub=hub,
        provider=provider,
        status=row.status,
        opened_at=row.opened_at,
        municipality_code=row.municipality_code,
        measure_id=row.measure_id,
        resolution=row.resolution,
        note=row.note,
        resolved_by=row.resolved_by,
        resolved_at=row.resolved_at,
    )


@router.get("/breaks", response_model=BreakPage)
async def list_breaks(
    _: SupportStaff,
    ctx: Context,
    provider_id: str | None = Query(None, max_length=64),
    business_date: date | None = Query(None),
    kind: KINDS | None = Query(None),
    status: Literal["open", "resolved"] | None = Query(None),
    cursor: str | None = Query(None, max_length=40),
    limit: int = Query(50, ge=1, le=500),
) -> BreakPage:
    """Breaks, newest first; `next_cursor` fetches the next page."""
    rows, next_cursor = await reconciliation.list_breaks(
        ctx,
        provider_id=provider_id,
        business_date=business_date,
        kind=kind,
        status=status,
        cursor=cursor,
        limit=limit,
    )
    return BreakPage(items=[break_out(r) for r in rows], next_cursor=next_cursor)


class TimelineEntry(BaseModel):
    at: datetime
    state: str
    actor: str
    detail: str | None


class ReceiptBeside(BaseModel):
    receipt_id: str
    state: str
    points: int
    municipality_code: str
    measure_id: str
    measure_title: str | None
    grant_id: str
    grant_state: str | None
    mykey_id: str = Field(description="masked")
    account_id: str = Field(description="masked")
    provider_reference: str | None
    finished_at: datetime | None
    workflow_id: str
    timeline: list[TimelineEntry]


class BreakDetailOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "break": BreakOut.model_config["json_schema_extra"]["examples"][0],  # type: ignore[index]
                    "receipt": None,
                    "allowed_resolutions": ["accepted_difference"],
                }
            ]
        }
    )

    break_: BreakOut = Field(alias="break")
    receipt: ReceiptBeside | None
    allowed_resolutions: list[str]


@router.get("/breaks/{break_id}", response_model=BreakDetailOut, response_model_by_alias=True)
async def get_break(break_id: str, _: SupportStaff, ctx: Context) -> BreakDetailOut:
    """The break, both sides, and the hub's receipt with its timeline beside the provider's row."""
    found = await reconciliation.detail(ctx, break_id)
    receipt = None
    if found.receipt is not None:
        r = found.receipt
        receipt = ReceiptBeside(
            receipt_id=r.id,
            state=r.state,
            points=r.points,
            municipality_code=r.municipality_code,
            measure_id=r.measure_id,
            measure_title=found.measure.title if found.measure else None,
            grant_id=r.grant_id,
            grant_state=found.grant.state if found.grant else None,
            mykey_id=mask(r.mykey_id),
            account_id=mask(r.account_id),
            provider_reference=r.provider_reference,
            finished_at=r.finished_at,
            workflow_id=r.workflow_id,
            timeline=[
                TimelineEntry(at=e.at, state=e.state, actor=masked_actor(e.actor), detail=e.detail)
                for e in found.timeline
            ],
        )
    return BreakDetailOut.model_validate(
        {
            "break": break_out(found.row),
            "receipt": receipt,
            "allowed_resolutions": found.allowed,
        }
    )


class ProviderStatusOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"break_id": "brk_42", "receipt_id": "app_3f…-r1", "provider_status": "not_found"}
            ]
        }
    )

    break_id: str
    receipt_id: str
    provider_status: str = Field(description="credited | rejected | pending | not_found")
    provider_reference: str | None = None


@router.post("/breaks/{break_id}/provider-status", response_model=ProviderStatusOut)
async def ask_provider(break_id: str, staff: SupportStaff, ctx: Context) -> ProviderStatusOut:
    """Ask the provider now what it holds for the break's receipt."""
    row = await reconciliation.get_break(ctx, break_id)
    status, reference = await reconciliation.provider_status(ctx, row, staff.actor)
    return ProviderStatusOut(
        break_id=break_id,
        receipt_id=row.receipt_id or "",
        provider_status=status,
        provider_reference=reference,
    )


class ResolveBody(Strict):
    resolution: Literal[
        "provider_confirmed_credit", "provider_confirmed_no_credit", "accepted_difference"
    ]
    note: FreeText = Field(min_length=1, max_length=2000)


@router.post(
    "/breaks/{break_id}/resolve",
    response_model=BreakOut,
    openapi_extra={"x-error-codes": ["break_already_resolved", "resolution_not_allowed"]},
)
async def resolve_break(
    break_id: str, body: ResolveBody, staff: SupportStaff, ctx: Context
) -> BreakOut:
    """`provider_confirmed_credit`: the hub records the credit as the provider's acknowledgement;
    `provider_confirmed_no_credit`: the points go back to unreceived by the return rules (after
    the provider's status check agrees); `accepted_difference`: the records stand, with the
    reason. 409 `break_already_resolved`, 409 `resolution_not_allowed`."""
    row = await reconciliation.resolve(
        ctx, break_id, resolution=body.resolution, note=body.note, actor=staff.actor
    )
    return break_out(row)
