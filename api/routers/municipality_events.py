"""Events of event measures and their printable QR codes (PNG and SVG)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response

from api.deps import Context, MunicipalityStaff
from api.pagination import PageRequest, paging
from api.routers.municipality import staff_of
from api.schemas.municipality import Event, EventBody, EventPage
from api.views import iso
from services import events
from storage.models.events import Event as EventRow

router = APIRouter(prefix="/v1/municipalities/{code}", tags=["municipality"])


def event_view(ctx: Context, event: EventRow) -> dict[str, Any]:
    return {
        "event_id": event.id,
        "measure_id": event.measure_id,
        "title": event.title,
        "starts_at": iso(event.starts_at),
        "ends_at": iso(event.ends_at),
        "points": event.points,
        "qr_payload": events.qr_payload(ctx, event),
        "qr_expires_at": iso(event.qr_expires_at),
        "created_at": iso(event.created_at),
    }


@router.post("/measures/{measure_id}/events", status_code=201, response_model=Event)
async def create_event(
    code: str, measure_id: str, body: EventBody, staff: MunicipalityStaff, ctx: Context
) -> dict[str, Any]:
    staff_of(staff, code)
    new = events.NewEvent(body.title, body.starts_at, body.ends_at, body.points)
    return event_view(ctx, await events.create_event(ctx, code, measure_id, new))


@router.get("/measures/{measure_id}/events", response_model=EventPage)
async def list_events(
    code: str,
    measure_id: str,
    staff: MunicipalityStaff,
    ctx: Context,
    page: Annotated[PageRequest, Depends(paging(default=100, maximum=500))],
) -> dict[str, Any]:
    staff_of(staff, code)
    rows, next_cursor = page.slice(await events.list_events(ctx, code, measure_id))
    return {"items": [event_view(ctx, e) for e in rows], "next_cursor": next_cursor}


@router.get("/measures/{measure_id}/events/{event_id}", response_model=Event)
async def get_event(
    code: str, measure_id: str, event_id: str, staff: MunicipalityStaff, ctx: Context
) -> dict[str, Any]:
    staff_of(staff, code)
    return event_view(ctx, await events.owned_event(ctx, code, measure_id, event_id))


async def _qr(
    ctx: Context, staff: MunicipalityStaff, code: str, measure_id: str, event_id: str, kind: str
) -> Response:
    staff_of(staff, code)
    event = await events.owned_event(ctx, code, measure_id, event_id)
    image_kind: Literal["png", "svg"] = "png" if kind == "png" else "svg"
    return Response(
        events.render_qr(events.qr_payload(ctx, event), image_kind),
        media_type=events.QR_MEDIA_TYPES[image_kind],
        headers={"content-disposition": f'inline; filename="{event.id}.{image_kind}"'},
    )


@router.get(
    "/measures/{measure_id}/events/{event_id}/qr.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def event_qr_png(
    code: str, measure_id: str, event_id: str, staff: MunicipalityStaff, ctx: Context
) -> Response:
    return await _qr(ctx, staff, code, measure_id, event_id, "png")


@router.get(
    "/measures/{measure_id}/events/{event_id}/qr.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}},
)
async def event_qr_svg(
    code: str, measure_id: str, event_id: str, staff: MunicipalityStaff, ctx: Context
) -> Response:
    return await _qr(ctx, staff, code, measure_id, event_id, "svg")
