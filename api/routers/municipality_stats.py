"""A measure's statistics and its grants as CSV (UTF-8 with a BOM, for Excel in Japan)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from api.deps import Context, MunicipalityStaff
from api.routers.municipality import staff_of
from api.schemas.municipality import MeasureStats
from services import stats

router = APIRouter(prefix="/v1/municipalities/{code}", tags=["municipality"])


@router.get("/measures/{measure_id}/stats", response_model=MeasureStats)
async def measure_stats(
    code: str, measure_id: str, staff: MunicipalityStaff, ctx: Context
) -> dict[str, Any]:
    """Applications by state, points by grant state, budget left, receipts by provider."""
    staff_of(staff, code)
    return await stats.measure_stats(ctx, code, measure_id)


@router.get(
    "/measures/{measure_id}/grants.csv",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "UTF-8 with a BOM, CRLF line ends, one grant a row",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def grants_csv(
    code: str, measure_id: str, staff: MunicipalityStaff, ctx: Context
) -> StreamingResponse:
    staff_of(staff, code)
    body = await stats.grants_csv(ctx, code, measure_id)
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="grants-{measure_id}.csv"'},
    )
