"""Residents report attendance by scanning an event's QR code in the app (FAQ: 参加報告)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import Context, CurrentResident
from api.schemas.resident import AttendanceBody, AttendanceReport
from api.views import grant_brief
from services import attendance

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
