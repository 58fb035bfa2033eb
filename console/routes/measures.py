"""Municipality staff: their measures, a new draft, editing a draft, publishing and closing."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request, Response

from api.deps import Context
from console.auth import CsrfChecked, StaffUser
from console.forms import MeasureForm, blank_measure_form, measure_draft, measure_form_of
from console.forms import read_measure_form as read_form
from console.pages import redirect, render, translator
from domain.errors import RuleViolation
from domain.measures import MeasureState
from services import measures, operator, targets
from storage.catalog import offers_by_measure
from storage.models import Measure, PaymentService

from . import console_router

router = console_router()
PAGE_SIZE = 50
MOVES = {"publish": MeasureState.PUBLISHED, "close": MeasureState.CLOSED}
MOVED = {"publish": "flash.measure_published", "close": "flash.measure_closed"}


async def _services(ctx: Context) -> list[PaymentService]:
    rows: list[PaymentService] = await operator.list_rows(ctx, PaymentService, PaymentService.name)
    return rows


@router.get("/measures")
async def measure_list(
    request: Request,
    user: StaffUser,
    ctx: Context,
    state: str | None = Query(None, pattern=r"^(|draft|published|closed)$"),
    page: int = Query(1, ge=1, le=10_000),
) -> Response:
    chosen = MeasureState(state) if state else None
    rows = await measures.list_measures(
        ctx, user.code, state=chosen, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
    )
    context = {
        "measures": rows[:PAGE_SIZE],
        "state": state or "",
        "states": [s.value for s in MeasureState],
        "page": page,
        "more": len(rows) > PAGE_SIZE,
    }
    return render(request, "measures/list.html", context)


def _form_page(
    request: Request,
    form: MeasureForm,
    services: list[PaymentService],
    *,
    measure: Measure | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    context = {"form": form, "services": services, "measure": measure, "problem": problem}
    return render(request, "measures/form.html", context, status=status)


@router.get("/measures/new")
async def new_measure_form(request: Request, user: StaffUser, ctx: Context) -> Response:
    return _form_page(request, blank_measure_form(ctx.clock()), await _services(ctx))


async def _save(
    request: Request, user: StaffUser, ctx: Context, measure: Measure | None
) -> Response:
    """Create or update: errors per field, or a rule's refusal above the form, keep what was
    typed so staff fix one thing and send again."""
    form = read_form(await request.form())
    draft = measure_draft(form)
    services = await _services(ctx)
    if draft is None:
        return _form_page(request, form, services, measure=measure, status=422)
    try:
        if measure is None:
            saved = await measures.create(ctx, user.code, draft)
        else:
            saved = await measures.update(ctx, user.code, measure.id, draft)
    except RuleViolation as refused:
        if refused.status == 404:
            raise
        problem = translator(request).error(refused.code, refused.detail)
        return _form_page(
            request, form, services, measure=measure, problem=problem, status=refused.status
        )
    flash = "flash.measure_created" if measure is None else "flash.measure_saved"
    return redirect(request, f"/console/measures/{saved.id}", flash, title=saved.title)


@router.post("/measures/new", dependencies=[CsrfChecked])
async def create_measure(request: Request, user: StaffUser, ctx: Context) -> Response:
    return await _save(request, user, ctx, None)


@router.get("/measures/{measure_id}")
async def measure_detail(
    request: Request, measure_id: str, user: StaffUser, ctx: Context
) -> Response:
    measure = await measures.owned_measure(ctx, user.code, measure_id)
    async with ctx.sessions() as session:
        offers = (await offers_by_measure(session, [measure.id]))[measure.id]
    context: dict[str, Any] = {"measure": measure, "offers": offers, "target_count": None}
    if measure.target_list_only:
        context["target_count"] = await targets.count(ctx, user.code, measure.id)
    return render(request, "measures/detail.html", context)


@router.get("/measures/{measure_id}/edit")
async def edit_measure_form(
    request: Request, measure_id: str, user: StaffUser, ctx: Context
) -> Response:
    measure = await measures.owned_measure(ctx, user.code, measure_id)
    if measure.state != MeasureState.DRAFT.value:
        raise RuleViolation("measure_not_draft", "only a draft measure can be edited", status=409)
    form = measure_form_of(await measures.current_draft(ctx, measure))
    return _form_page(request, form, await _services(ctx), measure=measure)


@router.post("/measures/{measure_id}/edit", dependencies=[CsrfChecked])
async def edit_measure(
    request: Request, measure_id: str, user: StaffUser, ctx: Context
) -> Response:
    measure = await measures.owned_measure(ctx, user.code, measure_id)
    return await _save(request, user, ctx, measure)


async def _confirm_move(
    request: Request, measure_id: str, move: str, user: StaffUser, ctx: Context
) -> Response:
    """Publishing and closing cannot be undone: staff confirm on a page of their own."""
    measure = await measures.owned_measure(ctx, user.code, measure_id)
    return render(request, "measures/confirm.html", {"measure": measure, "move": move})


async def _make_move(
    request: Request, measure_id: str, move: str, user: StaffUser, ctx: Context
) -> Response:
    try:
        if MOVES[move] is MeasureState.PUBLISHED:
            measure = await measures.publish(ctx, user.code, measure_id)
        else:
            measure = await measures.transition(ctx, user.code, measure_id, MOVES[move])
    except RuleViolation as refused:
        if refused.status == 404:
            raise
        measure = await measures.owned_measure(ctx, user.code, measure_id)
        problem = translator(request).error(refused.code, refused.detail)
        context = {"measure": measure, "move": move, "problem": problem}
        return render(request, "measures/confirm.html", context, status=refused.status)
    return redirect(request, f"/console/measures/{measure.id}", MOVED[move])


@router.get("/measures/{measure_id}/publish")
async def confirm_publish(
    request: Request, measure_id: str, user: StaffUser, ctx: Context
) -> Response:
    return await _confirm_move(request, measure_id, "publish", user, ctx)


@router.post("/measures/{measure_id}/publish", dependencies=[CsrfChecked])
async def publish(request: Request, measure_id: str, user: StaffUser, ctx: Context) -> Response:
    return await _make_move(request, measure_id, "publish", user, ctx)


@router.get("/measures/{measure_id}/close")
async def confirm_close(
    request: Request, measure_id: str, user: StaffUser, ctx: Context
) -> Response:
    return await _confirm_move(request, measure_id, "close", user, ctx)


@router.post("/measures/{measure_id}/close", dependencies=[CsrfChecked])
async def close(request: Request, measure_id: str, user: StaffUser, ctx: Context) -> Response:
    return await _make_move(request, measure_id, "close", user, ctx)
