"""Residents report attendance by scanning an event's QR code in the app (FAQ: 参加報告)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy import select

from api.deps import Context, CurrentResident, ReadingResident, SessionDep
from api.pagination import PageRequest, paging
from api.schemas.resident import AttendanceBody, AttendanceReport, ReportedAttendancePage
from api.views import grant_brief, iso
from services import attendance
from storage.models import Application
from storage.models.reviews import AttendanceReport as ReportRow

router = APIRouter(prefix="/v1/me", tags=["resident"])


@router.post("/attendance-reports", status_code=201, response_model=AttendanceReport)
async def report_attendance(
    body: AttendanceBody, resident: CurrentResident, ctx: Context
) -> dict[str, Any]:
    outcome = await attendance.report(ctx, mykey_id=resident.mykey_id, qr_payload=body.qr_payload)
    return {
        "report_id": outcome.report_id,
        "event_id": outcome.event_id,
        "status": outcome.status,
        "grant": grant_brief(outcome.grant),
    }


@router.get("/attendance-reports", response_model=ReportedAttendancePage)
async def my_attendance_reports(
    resident: ReadingResident,
    session: SessionDep,
    page: Annotated[PageRequest, Depends(paging(default=50, maximum=200))],
) -> dict[str, Any]:
    """The resident's attendance reports, newest first (reached through their applications)."""
    mine = select(Application.id).where(Application.mykey_id == resident.mykey_id)
    rows = await session.execute(
        select(ReportRow)
        .where(ReportRow.application_id.in_(mine))
        .order_by(ReportRow.reported_at.desc(), ReportRow.id)
        .limit(page.fetch)
        .offset(page.offset)
    )
    items, next_cursor = page.page(list(rows.scalars()))
    return {
        "items": [
            {
                "report_id": r.id,
                "event_id": r.event_id,
                "measure_id": r.measure_id,
                "status": r.status,
                "timing": r.timing,
                "reported_at": iso(r.reported_at),
                "grant_id": r.grant_id,
                "review_id": r.review_id,
            }
            for r in items
        ],
        "next_cursor": next_cursor,
    }
