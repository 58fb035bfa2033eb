"""Support staff and reconciliation breaks (SPEC §7): list and filter, see a break with the
receipt's timeline beside the provider's row, ask the provider, resolve."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from api.deps import Context, SupportStaff
from api.pagination import PageRequest, paging
from api.routers.support import masked_actor
from api.schemas import support as schema
from api.views import mask
from domain.reconciliation import BreakKind
from services import reconciliation
from storage.models.settlement import ReconciliationBreak

router = APIRouter(prefix="/v1/support/reconciliation", tags=["support"])

KINDS = Literal["missing_at_provider", "missing_at_hub", "points_mismatch", "statement_missing"]


def break_out(row: ReconciliationBreak) -> schema.ReconciliationBreak:
    hub = None
    if row.kind == BreakKind.STATEMENT_MISSING.value or row.hub_state is not None:
        hub = schema.HubSide(state=row.hub_state, points=row.hub_points)
    elif row.receipt_id:
        hub = schema.HubSide(state=None, points=None)
    provider = None
    if row.provider_points is not None:
        provider = schema.ProviderSide(
            points=row.provider_points,
            provider_reference=row.provider_reference,
            credited_at=row.provider_credited_at,
        )
    return schema.ReconciliationBreak(
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


@router.get("/breaks", response_model=schema.ReconciliationBreakPage)
async def list_breaks(
    _: SupportStaff,
    ctx: Context,
    page: Annotated[PageRequest, Depends(paging(default=50, maximum=500))],
    provider_id: str | None = Query(None, max_length=64),
    business_date: date | None = Query(None),
    kind: KINDS | None = Query(None),
    status: Literal["open", "resolved"] | None = Query(None),
) -> schema.ReconciliationBreakPage:
    """Breaks, newest first; `next_cursor` fetches the next page, which keeps its place while
    breaks open or are resolved meanwhile."""
    rows = await reconciliation.list_breaks(
        ctx,
        provider_id=provider_id,
        business_date=business_date,
        kind=kind,
        status=status,
        before=page.after_key,
        limit=page.fetch,
    )
    items, next_cursor = page.page(rows, key=lambda row: row.id)
    return schema.ReconciliationBreakPage(
        items=[break_out(r) for r in items], next_cursor=next_cursor
    )


@router.get(
    "/breaks/{break_id}",
    response_model=schema.ReconciliationBreakDetail,
    response_model_by_alias=True,
)
async def get_break(
    break_id: str, _: SupportStaff, ctx: Context
) -> schema.ReconciliationBreakDetail:
    """The break, both sides, and the hub's receipt with its timeline beside the provider's row."""
    found = await reconciliation.detail(ctx, break_id)
    receipt = None
    if found.receipt is not None:
        r = found.receipt
        receipt = schema.ReceiptBeside(
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
                schema.TimelineEntry(
                    at=e.at, state=e.state, actor=masked_actor(e.actor), detail=e.detail
                )
                for e in found.timeline
            ],
        )
    return schema.ReconciliationBreakDetail.model_validate(
        {
            "break": break_out(found.row),
            "receipt": receipt,
            "allowed_resolutions": found.allowed,
        }
    )


@router.post("/breaks/{break_id}/provider-status", response_model=schema.ProviderStatusCheck)
async def ask_provider(
    break_id: str, staff: SupportStaff, ctx: Context
) -> schema.ProviderStatusCheck:
    """Ask the provider now what it holds for the break's receipt."""
    row = await reconciliation.get_break(ctx, break_id)
    status, reference = await reconciliation.provider_status(ctx, row, staff.actor)
    return schema.ProviderStatusCheck(
        break_id=break_id,
        receipt_id=row.receipt_id or "",
        provider_status=status,
        provider_reference=reference,
    )


@router.post("/breaks/{break_id}/resolve", response_model=schema.ReconciliationBreak)
async def resolve_break(
    break_id: str, body: schema.BreakResolutionBody, staff: SupportStaff, ctx: Context
) -> schema.ReconciliationBreak:
    """`provider_confirmed_credit`: the hub records the credit as the provider's acknowledgement;
    `provider_confirmed_no_credit`: the points go back to unreceived by the return rules (after
    the provider's status check agrees); `accepted_difference`: the records stand, with the
    reason. 409 `break_already_resolved`, 409 `resolution_not_allowed`."""
    row = await reconciliation.resolve(
        ctx, break_id, resolution=body.resolution, note=body.note, actor=staff.actor
    )
    return break_out(row)
