"""A municipality's monthly settlement (精算, SPEC §7): the figures as JSON, and as CSV for Excel
(UTF-8 with a BOM, or Shift_JIS on request)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from api.deps import Context, MunicipalityStaff
from api.routers.municipality import staff_of
from api.schemas.common import SettlementTotals
from api.schemas.municipality import SETTLEMENT_CSV, Settlement, SettlementLine
from domain.settlement import Totals
from services import settlement

router = APIRouter(prefix="/v1/municipalities/{code}", tags=["municipality"])

CHARSETS = {"utf-8": "utf-8", "shift_jis": "Shift_JIS"}
Month = Annotated[str, Path(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")]


def totals_out(total: Totals) -> SettlementTotals:
    return SettlementTotals(**total.as_dict())


def settlement_out(found: settlement.MonthReport) -> Settlement:
    return Settlement(
        month=found.month,
        status="closed" if found.status == "closed" else "open",
        report_sha256=found.report_sha256,
        closed_at=found.closed_at,
        lines=[
            SettlementLine(
                provider_id=x.provider_id,
                provider_name=x.provider_name,
                measure_id=x.measure_id,
                measure_title=x.measure_title,
                credited_points=x.credited_points,
                statement_points=x.statement_points,
                matched_points=x.matched_points,
                open_breaks=x.open_breaks,
                yen_per_point=x.yen_per_point,
                amount_yen=x.amount_yen,
                adjustment=x.adjustment,
            )
            for x in found.lines
        ],
        totals=totals_out(found.totals),
    )


# Declared before the JSON route, whose path would otherwise take "2026-11.csv" as a month.
@router.get(
    "/settlements/{month}.csv",
    response_class=Response,
    responses={
        200: {
            "description": "the report as CSV: UTF-8 with a BOM, or Shift_JIS; CRLF line ends",
            "content": {"text/csv": {"schema": {"type": "string"}, "example": SETTLEMENT_CSV}},
        }
    },
)
async def settlement_csv(
    code: str,
    month: Month,
    staff: MunicipalityStaff,
    ctx: Context,
    encoding: Literal["utf-8", "shift_jis"] = Query("utf-8"),
) -> Response:
    """The month's report as CSV: UTF-8 with a BOM (its SHA-256 is a closed month's
    `report_sha256`), or Shift_JIS (Windows-31J) for older Excel."""
    staff_of(staff, code)
    found = await settlement.month_report(ctx, code, month)
    return Response(
        found.csv(encoding),
        media_type=f"text/csv; charset={CHARSETS[encoding]}",
        headers={
            "content-disposition": f'attachment; filename="settlement-{code}-{month}.csv"',
        },
    )


@router.get("/settlements/{month}", response_model=Settlement)
async def get_settlement(
    code: str, month: Month, staff: MunicipalityStaff, ctx: Context
) -> Settlement:
    """Per provider and measure: credited, statement and matched points, open breaks, the
    amount in yen and adjustments; open months as they stand, closed months as frozen."""
    staff_of(staff, code)
    return settlement_out(await settlement.month_report(ctx, code, month))
