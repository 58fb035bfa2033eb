"""Support staff: stuck receipts with filters and reasons, one receipt's timeline, and the support
actions, each confirmed on a page that says what it will do before it is done."""

from __future__ import annotations

from fastapi import Query, Request, Response

from api.deps import Context
from api.views import mask
from console.auth import CsrfChecked, SupportUser
from console.pages import redirect, render, translator
from domain.errors import RuleViolation
from domain.receipts import TERMINAL_RECEIPT_STATES, ReceiptState
from services import operator, provider_pause, support
from storage.models import PaymentProvider

from . import console_router

router = console_router()
PAGE_SIZE = 50
OPEN_STATES = [s.value for s in ReceiptState if s not in TERMINAL_RECEIPT_STATES]


@router.get("/support/stuck")
async def stuck_receipts(
    request: Request,
    _: SupportUser,
    ctx: Context,
    provider_id: str | None = Query(None, max_length=64),
    state: str | None = Query(None, max_length=16),
    municipality_code: str | None = Query(None, max_length=6),
    older_than_h: str | None = Query(None, max_length=6, pattern=r"^[0-9]*$"),
    page: int = Query(1, ge=1, le=10_000),
) -> Response:
    rows, total = await support.stuck(
        ctx,
        older_than_s=int(older_than_h) * 3600 if older_than_h else None,
        provider_id=provider_id or None,
        state=state or None,
        municipality_code=municipality_code or None,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    providers = await operator.list_rows(ctx, PaymentProvider, PaymentProvider.id)
    async with ctx.sessions() as session:
        paused_providers = await provider_pause.paused_states(session)
    filters = {
        "provider_id": provider_id or "",
        "state": state or "",
        "municipality_code": municipality_code or "",
        "older_than_h": older_than_h or "",
    }
    context = {
        "rows": rows,
        "total": total,
        "page": page,
        "more": page * PAGE_SIZE < total,
        "filters": filters,
        "filtered": any(filters.values()),
        "providers": providers,
        "paused_providers": paused_providers,
        "states": OPEN_STATES,
        "mask": mask,
    }
    return render(request, "support/stuck.html", context)


@router.get("/support/receipts/{receipt_id}")
async def receipt_detail(
    request: Request, receipt_id: str, _: SupportUser, ctx: Context
) -> Response:
    found = await support.detail(ctx, receipt_id)
    async with ctx.sessions() as session:
        queue = await provider_pause.state(session, found.receipt.provider_id)
    context = {"found": found, "mask": mask, "actions": support.ACTIONS, "provider_queue": queue}
    return render(request, "support/receipt.html", context)


def _action(action: str) -> str:
    if action not in support.ACTIONS:
        raise RuleViolation("not_found", "no such action", status=404)
    return action


@router.get("/support/receipts/{receipt_id}/actions/{action}")
async def confirm_action(
    request: Request, receipt_id: str, action: str, _: SupportUser, ctx: Context
) -> Response:
    found = await support.detail(ctx, receipt_id)
    return render(
        request, "support/confirm.html", {"found": found, "action": _action(action), "note": ""}
    )


@router.post("/support/receipts/{receipt_id}/actions/{action}", dependencies=[CsrfChecked])
async def run_action(
    request: Request, receipt_id: str, action: str, user: SupportUser, ctx: Context
) -> Response:
    _action(action)
    note_value = (await request.form()).get("note")
    note = note_value.strip() if isinstance(note_value, str) else ""
    if len(note) > 2000:
        raise RuleViolation("validation_error", "a note is at most 2000 characters")
    try:
        outcome = await support.act(
            ctx, receipt_id, action=action, note=note or None, actor=user.actor
        )
    except RuleViolation as refused:
        if refused.status == 404:
            raise
        found = await support.detail(ctx, receipt_id)
        context = {
            "found": found,
            "action": action,
            "note": note,
            "problem": translator(request).error(refused.code, refused.detail),
        }
        return render(request, "support/confirm.html", context, status=refused.status)
    t = translator(request)
    return redirect(
        request,
        f"/console/support/receipts/{receipt_id}",
        f"flash.action_{action}",
        provider_status=t(f"provider_status.{outcome.provider_status or 'none'}"),
        state=t(f"receipt_states.{outcome.receipt_state}") if outcome.receipt_state else "—",
    )
