"""Operators close a month's settlement (SPEC §7): figures and report checksums frozen."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Context, Operator
from api.routers.municipality_settlements import Month, totals_out
from api.schemas.operator import ClosedSettlement, MunicipalityReport, SettlementCloseBody
from services import settlement

router = APIRouter(prefix="/v1/operator/settlements", tags=["operator"])


@router.post("/{month}/close", response_model=ClosedSettlement)
async def close_month(
    month: Month, body: SettlementCloseBody, operator: Operator, ctx: Context
) -> ClosedSettlement:
    """Freeze the month for every municipality. 409 `open_breaks` while breaks of the month are
    open, unless `force` with a `note`; 409 `month_not_ended`; 409 `settlement_closed`."""
    closed = await settlement.close(
        ctx, month, force=body.force, note=body.note, actor=operator.actor
    )
    return ClosedSettlement(
        month=closed.month,
        closed_at=closed.closed_at,
        closed_by=closed.closed_by,
        forced=closed.forced,
        note=closed.note,
        open_breaks=closed.open_breaks,
        report_sha256=closed.report_sha256,
        reports=[
            MunicipalityReport(
                municipality_code=r.municipality_code,
                report_sha256=str(r.report_sha256),
                totals=totals_out(r.totals),
            )
            for r in closed.reports
        ],
    )
