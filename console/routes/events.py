"""Events of an event measure and their QR codes, on screen and ready to print."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request, Response

from api.deps import Context
from console.auth import CsrfChecked, StaffUser
from console.forms import FieldError, event_body
from console.pages import redirect, render, translator
from domain.errors import RuleViolation
from services import events, measures

from . import console_router

router = console_router()
QR_KINDS: dict[str, Literal["png", "svg"]] = {"png": "png", "svg": "svg"}


async def _page(
    request: Request,
    user: StaffUser,
    ctx: Context,
    measure_id: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, FieldError] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    measure = await measures.owned_measure(ctx, user.code, measure_id)
    rows = await events.list_events(ctx, user.code, measure_id)
    context: dict[str, Any] = {
        "measure": measure,
        "events": rows,
        "values": values or {"title": "", "starts_at": "", "ends_at": "", "points": ""},
        "errors": errors or {},
        "problem": problem,
    }
    return render(request, "measures/events.html", context, status=status)


@router.get("/measures/{measure_id}/events")
async def event_list(request: Request, measure_id: str, user: StaffUser, ctx: Context) -> Response:
    return await _page(request, user, ctx, measure_id)


@router.post("/measures/{measure_id}/events", dependencies=[CsrfChecked])
async def create_event(
    request: Request, measure_id: str, user: StaffUser, ctx: Context
) -> Response:
    await measures.owned_measure(ctx, user.code, measure_id)
    values, body, errors = event_body(await request.form())
    if body is None:
        return await _page(request, user, ctx, measure_id, values=values, errors=errors, status=422)
    new = events.NewEvent(body.title, body.starts_at, body.ends_at, body.points)
    try:
        event = await events.create_event(ctx, user.code, measure_id, new)
    except RuleViolation as refused:
        if refused.status == 404:
            raise
        problem = translator(request).error(refused.code, refused.detail)
        return await _page(
            request, user, ctx, measure_id, values=values, problem=problem, status=refused.status
        )
    return redirect(
        request, f"/console/measures/{measure_id}/events", "flash.event_created", title=event.title
    )


@router.get("/measures/{measure_id}/events/{event_id}/print")
async def print_event(
    request: Request, measure_id: str, event_id: str, user: StaffUser, ctx: Context
) -> Response:
    """One event on one page: the QR code large enough to scan from across a room."""
    event = await events.owned_event(ctx, user.code, measure_id, event_id)
    measure = await measures.owned_measure(ctx, user.code, measure_id)
    return render(request, "measures/event_print.html", {"measure": measure, "event": event})


@router.get("/measures/{measure_id}/events/{event_id}/qr.{kind}")
async def event_qr(
    measure_id: str, event_id: str, kind: str, user: StaffUser, ctx: Context
) -> Response:
    if kind not in QR_KINDS:
        raise RuleViolation("not_found", "no such image", status=404)
    event = await events.owned_event(ctx, user.code, measure_id, event_id)
    image = events.render_qr(events.qr_payload(ctx, event), QR_KINDS[kind])
    return Response(
        image,
        media_type=events.QR_MEDIA_TYPES[kind],
        headers={"content-disposition": f'inline; filename="{event.id}.{kind}"'},
    )
