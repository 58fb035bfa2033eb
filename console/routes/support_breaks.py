"""Support staff and reconciliation breaks: the list with filters, one break with the provider's
row beside the hub's receipt and its timeline, asking the provider, and resolving with a note."""

from __future__ import annotations

from datetime import date

from fastapi import Query, Request, Response

from api.deps import Context
from api.pagination import PageRequest, decode_cursor
from api.views import mask
from console.auth import CsrfChecked, SupportUser
from console.pages import redirect, render, translator
from domain.errors import RuleViolation
from domain.reconciliation import STAFF_RESOLUTIONS, BreakKind
from services import operator, reconciliation
from storage.models import PaymentProvider

from . import console_router

router = console_router()
PAGE_SIZE = 50


@router.get("/support/breaks")
async def breaks(
    request: Request,
    _: SupportUser,
    ctx: Context,
    provider_id: str | None = Query(None, max_length=64),
    business_date: str | None = Query(None, max_length=10),
    kind: str | None = Query(None, max_length=24),
    status: str = Query("open", pattern="^(open|resolved|)$"),
    cursor: str | None = Query(None, max_length=40),
) -> Response:
    day = None
    if business_date:
        try:
            day = date.fromisoformat(business_date)
        except ValueError as exc:
            raise RuleViolation("validation_error", "YYYY-MM-DD") from exc
    page = PageRequest(limit=PAGE_SIZE, offset=decode_cursor(cursor))
    found = await reconciliation.list_breaks(
        ctx,
        provider_id=provider_id or None,
        business_date=day,
        kind=kind or None,
        status=status or None,
        before=page.after_key,
        limit=page.fetch,
    )
    rows, next_cursor = page.page(found, key=lambda row: row.id)
    filters = {
        "provider_id": provider_id or "",
        "business_date": business_date or "",
        "kind": kind or "",
        "status": status,
    }
    context = {
        "rows": rows,
        "next_cursor": next_cursor,
        "filters": filters,
        "providers": await operator.list_rows(ctx, PaymentProvider, PaymentProvider.id),
        "kinds": [k.value for k in BreakKind],
        "break_id": reconciliation.break_id_of,
    }
    return render(request, "support/breaks.html", context)


async def _page(
    request: Request,
    ctx: Context,
    break_id: str,
    *,
    problem: str | None = None,
    note: str = "",
    chosen: str = "",
    status: int = 200,
) -> Response:
    found = await reconciliation.detail(ctx, break_id)
    context = {
        "found": found,
        "break_id": break_id,
        "mask": mask,
        "problem": problem,
        "note": note,
        "chosen": chosen,
    }
    return render(request, "support/break.html", context, status=status)


@router.get("/support/breaks/{break_id}")
async def break_detail(request: Request, break_id: str, _: SupportUser, ctx: Context) -> Response:
    return await _page(request, ctx, break_id)


@router.post("/support/breaks/{break_id}/provider-status", dependencies=[CsrfChecked])
async def ask_provider(
    request: Request, break_id: str, user: SupportUser, ctx: Context
) -> Response:
    row = await reconciliation.get_break(ctx, break_id)
    t = translator(request)
    try:
        status, _ = await reconciliation.provider_status(ctx, row, user.actor)
    except RuleViolation as refused:
        if refused.status == 404:
            raise
        return await _page(
            request, ctx, break_id, problem=t.error(refused.code, refused.detail), status=409
        )
    return redirect(
        request,
        f"/console/support/breaks/{break_id}",
        "flash.break_provider_status",
        provider_status=t(f"provider_status.{status}"),
    )


@router.post("/support/breaks/{break_id}/resolve", dependencies=[CsrfChecked])
async def resolve(request: Request, break_id: str, user: SupportUser, ctx: Context) -> Response:
    form = await request.form()
    chosen = form.get("resolution")
    note = form.get("note")
    chosen = chosen if isinstance(chosen, str) else ""
    note = note.strip() if isinstance(note, str) else ""
    if chosen not in {r.value for r in STAFF_RESOLUTIONS}:
        raise RuleViolation("validation_error", "choose a resolution")
    if len(note) > 2000:
        raise RuleViolation("validation_error", "a note is at most 2000 characters")
    try:
        await reconciliation.resolve(ctx, break_id, resolution=chosen, note=note, actor=user.actor)
    except RuleViolation as refused:
        if refused.status == 404:
            raise
        t = translator(request)
        return await _page(
            request,
            ctx,
            break_id,
            problem=t.error(refused.code, refused.detail),
            note=note,
            chosen=chosen,
            status=refused.status,
        )
    t = translator(request)
    return redirect(
        request,
        f"/console/support/breaks/{break_id}",
        "flash.break_resolved",
        resolution=t(f"resolutions.{chosen}"),
    )
