"""Support staff (問合せ窓口): stuck receipts, their timelines and actions, resident lookup.
Identifiers of residents and accounts are masked but for their last characters."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import Context, SupportStaff
from api.pagination import PageRequest, paging
from api.schemas import support as schema
from api.views import grant_view, iso, mask, receipt_view
from domain.provider_errors import describe
from services import provider_pause, support
from storage.models import Receipt

router = APIRouter(prefix="/v1/support", tags=["support"])


def masked_actor(actor: str) -> str:
    """`resident:<MyKey ID>` shows only the ID's last characters; staff and workers in full."""
    role, _, who = actor.partition(":")
    return f"{role}:{mask(who)}" if role == "resident" and who else actor


def failure_fields(receipt: Receipt, paused: Collection[str]) -> dict[str, Any]:
    """The last provider failure as support staff read it: its stable code and message, the
    raw detail beside them, and whether the receipt waits for its paused provider."""
    code = receipt.last_error_code
    return {
        "last_error": receipt.last_error,
        "last_error_code": code,
        "last_error_message": (
            {"ja": describe(code, "ja"), "en": describe(code, "en")} if code else None
        ),
        "provider_paused": receipt.provider_id in paused,
    }


def _receipt_row(row: Any, paused: Collection[str]) -> dict[str, Any]:
    receipt = row.receipt
    return {
        **receipt_view(receipt),
        "provider_id": receipt.provider_id,
        "municipality_code": receipt.municipality_code,
        "mykey_id": mask(receipt.mykey_id),
        "reasons": row.reasons,
        "stuck_since": iso(row.since),
        "attempts": receipt.attempts,
        **failure_fields(receipt, paused),
        "workflow_id": receipt.workflow_id,
    }


@router.get("/receipts/stuck", response_model=schema.StuckReceiptPage)
async def stuck_receipts(
    _: SupportStaff,
    ctx: Context,
    page: Annotated[PageRequest, Depends(paging(default=50, maximum=500))],
    older_than_s: int | None = Query(None, ge=0, le=10**9),
    provider_id: str | None = Query(None, max_length=64),
    state: str | None = Query(None, max_length=16),
    municipality_code: str | None = Query(None, max_length=6),
) -> dict[str, Any]:
    found, total = await support.stuck(
        ctx,
        older_than_s=older_than_s,
        provider_id=provider_id,
        state=state,
        municipality_code=municipality_code,
        limit=page.fetch,
        offset=page.offset,
    )
    rows, next_cursor = page.page(found)
    paused = await provider_pause.paused_ids(ctx)
    return {
        "items": [_receipt_row(r, paused) for r in rows],
        "next_cursor": next_cursor,
        "total": total,
    }


@router.get("/receipts/{receipt_id}", response_model=schema.ReceiptDetail)
async def receipt_detail(receipt_id: str, _: SupportStaff, ctx: Context) -> dict[str, Any]:
    found = await support.detail(ctx, receipt_id)
    receipt = found.receipt
    return {
        **receipt_view(receipt),
        "provider_id": receipt.provider_id,
        "municipality_code": receipt.municipality_code,
        "measure_title": found.measure.title,
        "mykey_id": mask(receipt.mykey_id),
        "account_id": mask(receipt.account_id),
        "grant": grant_view(found.grant),
        "attempts": receipt.attempts,
        **failure_fields(receipt, await provider_pause.paused_ids(ctx)),
        "provider_reference": receipt.provider_reference,
        "stuck": bool(found.reasons),
        "reasons": found.reasons,
        "stuck_since": iso(receipt.stuck_since),
        "workflow_id": receipt.workflow_id,
        "temporal_ui": found.workflow_link,
        "timeline": [
            {"at": iso(e.at), "state": e.state, "actor": masked_actor(e.actor), "detail": e.detail}
            for e in found.timeline
        ],
    }


@router.post("/receipts/{receipt_id}/actions", response_model=schema.ActionOutcome)
async def receipt_action(
    receipt_id: str, body: schema.ActionBody, staff: SupportStaff, ctx: Context
) -> dict[str, Any]:
    outcome = await support.act(
        ctx, receipt_id, action=body.action, note=body.note, actor=staff.actor
    )
    return {
        "receipt_id": outcome.receipt_id,
        "action": outcome.action,
        "provider_status": outcome.provider_status,
        "receipt_state": outcome.receipt_state,
        "message": outcome.message,
    }


@router.get("/residents/{mykey_id}", response_model=schema.ResidentOverview)
async def resident_overview(mykey_id: str, _: SupportStaff, ctx: Context) -> dict[str, Any]:
    found = await support.resident(ctx, mykey_id)
    totals: dict[str, int] = {}
    for grant in found.grants:
        totals[grant.state] = totals.get(grant.state, 0) + grant.points
    return {
        "mykey_id": mask(found.mykey.mykey_id),
        "status": found.mykey.status,
        "issued_at": iso(found.mykey.issued_at),
        "points": totals,
        "registrations": [
            {
                "registration_id": r.id,
                "payment_service_id": r.payment_service_id,
                "account_id": mask(r.account_id),
                "status": r.status,
            }
            for r in found.registrations
        ],
        "applications": [
            {
                "application_id": a.id,
                "measure_id": a.measure_id,
                "state": a.state,
                "points_granted": a.points_granted,
            }
            for a in found.applications
        ],
        "grants": [grant_view(g) for g in found.grants],
        "receipts": [
            {**receipt_view(r), "provider_id": r.provider_id, "account_id": mask(r.account_id)}
            for r in found.receipts
        ],
    }
