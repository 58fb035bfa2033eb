"""Municipality staff manage their own measures; another municipality's are 404.

Targets, events and statistics live in the `municipality_*` routers beside this one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, Field

from api.deps import Context, MunicipalityStaff, require_scope
from api.free_text import FreeText
from api.schemas import Strict
from api.views import measure_view
from domain.measures import MeasureState, ServiceOffer
from services import measures
from storage.catalog import offers_by_measure
from storage.keys import Principal
from storage.models import Measure

router = APIRouter(prefix="/v1/municipalities/{code}", tags=["municipality"])


def staff_of(staff: Principal, code: str) -> None:
    """The code's check digit first (422 `invalid_municipality_code`), then the key's scope:
    another municipality's objects are 404, never 403."""
    measures.check_municipality_code(code)
    require_scope(staff, code, "municipality")


class OfferBody(Strict):
    payment_service_id: str = Field(min_length=1, max_length=64)
    available_from: AwareDatetime


class MeasureBody(Strict):
    title: FreeText = Field(min_length=1, max_length=200)
    description: FreeText = Field("", max_length=5000)
    kind: str = Field(pattern=r"^(application|event)$")
    points_per_grant: int = Field(ge=1, le=1_000_000)
    per_person_cap: int = Field(ge=1, le=100_000_000)
    budget_points: int | None = Field(None, ge=1, le=10**13)
    opens_at: AwareDatetime
    closes_at: AwareDatetime
    receipt_deadline: AwareDatetime
    target_list_only: bool = False
    auto_grant: bool = False
    review_required: bool = False
    late_report_days: int = Field(0, ge=0, le=365)
    payment_services: list[OfferBody] = Field(min_length=1, max_length=50)
    yen_per_point: int = Field(1, ge=1, le=10_000, description="yen paid per point (精算)")

    def draft(self) -> measures.MeasureDraft:
        return measures.MeasureDraft(
            **self.model_dump(exclude={"payment_services"}),
            payment_services=[
                ServiceOffer(o.payment_service_id, o.available_from) for o in self.payment_services
            ],
        )


class MeasurePatch(Strict):
    title: FreeText | None = Field(None, min_length=1, max_length=200)
    description: FreeText | None = Field(None, max_length=5000)
    kind: str | None = Field(None, pattern=r"^(application|event)$")
    points_per_grant: int | None = Field(None, ge=1, le=1_000_000)
    per_person_cap: int | None = Field(None, ge=1, le=100_000_000)
    budget_points: int | None = Field(None, ge=1, le=10**13)
    opens_at: AwareDatetime | None = None
    closes_at: AwareDatetime | None = None
    receipt_deadline: AwareDatetime | None = None
    target_list_only: bool | None = None
    auto_grant: bool | None = None
    review_required: bool | None = None
    late_report_days: int | None = Field(None, ge=0, le=365)
    payment_services: list[OfferBody] | None = Field(None, min_length=1, max_length=50)
    yen_per_point: int | None = Field(None, ge=1, le=10_000)


async def _view(ctx: Context, measure: Measure) -> dict[str, Any]:
    async with ctx.sessions() as session:
        offers = await offers_by_measure(session, [measure.id])
    return measure_view(measure, offers[measure.id], now=ctx.clock(), hide_future_services=False)


@router.post("/measures", status_code=201)
async def create_measure(
    code: str, body: MeasureBody, staff: MunicipalityStaff, ctx: Context
) -> dict[str, Any]:
    staff_of(staff, code)
    return await _view(ctx, await measures.create(ctx, code, body.draft()))


@router.get("/measures")
async def list_measures(
    code: str,
    staff: MunicipalityStaff,
    ctx: Context,
    state: MeasureState | None = Query(None),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """The municipality's own measures, drafts included, newest first."""
    staff_of(staff, code)
    rows = await measures.list_measures(ctx, code, state=state, limit=limit, offset=offset)
    async with ctx.sessions() as session:
        offers = await offers_by_measure(session, [m.id for m in rows])
    now = ctx.clock()
    return {
        "measures": [
            measure_view(m, offers[m.id], now=now, hide_future_services=False) for m in rows
        ],
        "limit": limit,
        "offset": offset,
    }


@router.get("/measures/{measure_id}")
async def get_measure(
    code: str, measure_id: str, staff: MunicipalityStaff, ctx: Context
) -> dict[str, Any]:
    staff_of(staff, code)
    return await _view(ctx, await measures.owned_measure(ctx, code, measure_id))


@router.patch("/measures/{measure_id}")
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


@router.post("/measures/{measure_id}/publish")
async def publish_measure(
    code: str, measure_id: str, staff: MunicipalityStaff, ctx: Context
) -> dict[str, Any]:
    staff_of(staff, code)
    return await _view(ctx, await measures.publish(ctx, code, measure_id))


@router.post("/measures/{measure_id}/close")
async def close_measure(
    code: str, measure_id: str, staff: MunicipalityStaff, ctx: Context
) -> dict[str, Any]:
    staff_of(staff, code)
    return await _view(ctx, await measures.transition(ctx, code, measure_id, MeasureState.CLOSED))
