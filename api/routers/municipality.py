"""Municipality staff manage their own measures; another municipality's are 404.

Targets, events and statistics live in the `municipality_*` routers beside this one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import Context, MunicipalityStaff, require_scope
from api.pagination import PageRequest, paging
from api.schemas.common import Measure, MeasurePage
from api.schemas.municipality import MeasureBody, MeasurePatch
from api.views import measure_view
from domain.measures import MeasureState, ServiceOffer
from services import measures
from storage.catalog import offers_by_measure
from storage.keys import Principal
from storage.models import Measure as MeasureRow

router = APIRouter(prefix="/v1/municipalities/{code}", tags=["municipality"])
Paging = Annotated[PageRequest, Depends(paging(default=50, maximum=200))]


def draft_of(body: MeasureBody) -> measures.MeasureDraft:
    return measures.MeasureDraft(
        **body.model_dump(exclude={"payment_services"}),
        payment_services=[
            ServiceOffer(o.payment_service_id, o.available_from) for o in body.payment_services
        ],
    )


def staff_of(staff: Principal, code: str) -> None:
    """The code's check digit first (422 `invalid_municipality_code`), then the key's scope:
    another municipality's objects are 404, never 403."""
    measures.check_municipality_code(code)
    require_scope(staff, code, "municipality")


async def _view(ctx: Context, measure: MeasureRow) -> dict[str, Any]:
    async with ctx.sessions() as session:
        offers = await offers_by_measure(session, [measure.id])
    return measure_view(measure, offers[measure.id], now=ctx.clock(), hide_future_services=False)


@router.post("/measures", status_code=201, response_model=Measure)
async def create_measure(
    code: str, body: MeasureBody, staff: MunicipalityStaff, ctx: Context
) -> dict[str, Any]:
    staff_of(staff, code)
    return await _view(ctx, await measures.create(ctx, code, draft_of(body)))


@router.get("/measures", response_model=MeasurePage)
async def list_measures(
    code: str,
    staff: MunicipalityStaff,
    ctx: Context,
    page: Paging,
    state: MeasureState | None = Query(None),
) -> dict[str, Any]:
    """The municipality's own measures, drafts included, newest first."""
    staff_of(staff, code)
    rows, next_cursor = page.page(
        await measures.list_measures(ctx, code, state=state, limit=page.fetch, offset=page.offset)
    )
    async with ctx.sessions() as session:
        offers = await offers_by_measure(session, [m.id for m in rows])
    now = ctx.clock()
    return {
        "items": [measure_view(m, offers[m.id], now=now, hide_future_services=False) for m in rows],
        "next_cursor": next_cursor,
    }


@router.get("/measures/{measure_id}", response_model=Measure)
async def get_measure(
    code: str, measure_id: str, staff: MunicipalityStaff, ctx: Context
) -> dict[str, Any]:
    staff_of(staff, code)
    return await _view(ctx, await measures.owned_measure(ctx, code, measure_id))


@router.patch("/measures/{measure_id}", response_model=Measure)
async def edit_measure(
    code: str, measure_id: str, body: MeasurePatch, staff: MunicipalityStaff, ctx: Context
) -> dict[str, Any]:
    staff_of(staff, code)
    current = await measures.current_draft(ctx, await measures.owned_measure(ctx, code, measure_id))
    changes = body.model_dump(exclude_unset=True, exclude={"payment_services"})
    for name, value in changes.items():
        setattr(current, name, value)
    if body.payment_services is not None:
        current.payment_services = [
            ServiceOffer(o.payment_service_id, o.available_from) for o in body.payment_services
        ]
    return await _view(ctx, await measures.update(ctx, code, measure_id, current))


@router.post("/measures/{measure_id}/publish", response_model=Measure)
async def publish_measure(
    code: str, measure_id: str, staff: MunicipalityStaff, ctx: Context
) -> dict[str, Any]:
    staff_of(staff, code)
    return await _view(ctx, await measures.publish(ctx, code, measure_id))


@router.post("/measures/{measure_id}/close", response_model=Measure)
async def close_measure(
    code: str, measure_id: str, staff: MunicipalityStaff, ctx: Context
) -> dict[str, Any]:
    staff_of(staff, code)
    return await _view(ctx, await measures.transition(ctx, code, measure_id, MeasureState.CLOSED))
