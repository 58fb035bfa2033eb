"""A municipality's monthly settlement (精算, SPEC §7): the figures as JSON, and as CSV for Excel
(UTF-8 with a BOM, or Shift_JIS on request)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Context, MunicipalityStaff
from api.routers.municipality import staff_of
from domain.settlement import Totals
from services import settlement

router = APIRouter(prefix="/v1/municipalities/{code}", tags=["municipality"])

CHARSETS = {"utf-8": "utf-8", "shift_jis": "Shift_JIS"}
Month = Annotated[str, Path(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")]


class SettlementLineOut(BaseModel):
    provider_id: str
    provider_name: str
    measure_id: str
    measure_title: str
    credited_points: int = Field(description="points the hub credited at this provider")
    statement_points: int = Field(description="points on the provider's statements")
    matched_points: int = Field(description="credited points the provider agrees with")
    open_breaks: int
    yen_per_point: int
    amount_yen: int = Field(description="(credited_points + adjustment) × yen_per_point")
    adjustment: int = Field(description="corrections of closed months, in points")


class TotalsOut(BaseModel):
    credited_points: int
    statement_points: int
    matched_points: int
    open_breaks: int
    adjustment: int
    amount_yen: int


class SettlementOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "month": "2026-11",
                    "status": "closed",
                    "report_sha256": "3b5d…",
                    "closed_at": "2026-12-03T01:00:00+00:00",
                    "lines": [
                        {
                            "provider_id": "paysim",
                            "provider_name": "PaySim",
                            "measure_id": "msr_…",
                            "measure_title": "子育て応援ポイント",
                            "credited_points": 120000,
                            "statement_points": 120000,
                            "matched_points": 120000,
                            "open_breaks": 0,
                            "yen_per_point": 1,
                            "amount_yen": 120000,
                            "adjustment": 0,
                        }
                    ],
                    "totals": {
                        "credited_points": 120000,
                        "statement_points": 120000,
                        "matched_points": 120000,
                        "open_breaks": 0,
                        "adjustment": 0,
                        "amount_yen": 120000,
                    },
                }
            ]
        }
    )

    month: str
    status: Literal["open", "closed"]
    report_sha256: str | None = Field(
        None, description="closed months: SHA-256 of the UTF-8 CSV report"
    )
    closed_at: str | None = None
    lines: list[SettlementLineOut]
    totals: TotalsOut


def totals_out(total: Totals) -> TotalsOut:
    return TotalsOut(**total.as_dict())


def settlement_out(found: settlement.MonthReport) -> SettlementOut:
    return SettlementOut(
        month=found.month,
        status="closed" if found.status == "closed" else "open",
        report_sha256=found.report_sha256,
        closed_at=found.closed_at,
        lines=[
            SettlementLineOut(
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
    responses={200: {"content": {"text/csv": {}}, "description": "the report as CSV"}},
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


@router.get("/settlements/{month}", response_model=SettlementOut)
async def get_settlement(
    code: str, month: Month, staff: MunicipalityStaff, ctx: Context
) -> SettlementOut:
    """Per provider and measure: credited, statement and matched points, open breaks, the
    amount in yen and adjustments; open months as they stand, closed months as frozen."""
    staff_of(staff, code)
    return settlement_out(await settlement.month_report(ctx, code, month))
