"""Operators close a month's settlement (SPEC §7): figures and report checksums frozen."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Context, Operator
from api.free_text import FreeText
from api.routers.municipality_settlements import Month, TotalsOut, totals_out
from api.schemas import Strict
from services import settlement

router = APIRouter(prefix="/v1/operator/settlements", tags=["operator"])


class CloseBody(Strict):
    force: bool = False
    note: FreeText | None = Field(None, max_length=2000)


class MunicipalityReportOut(BaseModel):
    municipality_code: str
    report_sha256: str
    totals: TotalsOut


class ClosedOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "month": "2026-11",
                    "status": "closed",
                    "closed_at": "2026-12-03T01:00:00+00:00",
                    "closed_by": "operator:key_…",
                    "forced": False,
                    "note": None,
                    "open_breaks": 0,
                    "report_sha256": "a1c9…",
                    "reports": [],
                }
            ]
        }
    )

    month: str
    status: str = "closed"
    closed_at: str
    closed_by: str
    forced: bool
    note: str | None
    open_breaks: int = Field(description="breaks still open when the month was closed")
    report_sha256: str = Field(description="over every municipality's report SHA-256")
    reports: list[MunicipalityReportOut]


@router.post(
    "/{month}/close",
    response_model=ClosedOut,
    openapi_extra={"x-error-codes": ["open_breaks", "settlement_closed", "month_not_ended"]},
)
async def close_month(month: Month, body: CloseBody, operator: Operator, ctx: Context) -> ClosedOut:
    """Freeze the month for every municipality. 409 `open_breaks` while breaks of the month are
    open, unless `force` with a `note`; 409 `month_not_ended`; 409 `settlement_closed`."""
    closed = await settlement.close(
        ctx, month, force=body.force, note=body.note, actor=operator.actor
    )
    return ClosedOut(
        month=closed.month,
        closed_at=closed.closed_at,
        closed_by=closed.closed_by,
        forced=closed.forced,
        note=closed.note,
        open_breaks=closed.open_breaks,
        report_sha256=closed.report_sha256,
        reports=[
            MunicipalityReportOut(
                municipality_code=r.municipality_code,
                report_sha256=str(r.report_sha256),
                totals=totals_out(r.totals),
            )
            for r in closed.reports
        ],
    )
