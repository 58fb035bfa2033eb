"""Attendance reports from the app: the scanned QR names the event; the resident's application
workflow judges the report (on time, late for review, too late) and grants."""

from __future__ import annotations

from sqlalchemy import select

from domain.attendance import ReportOutcome
from domain.errors import RuleViolation
from services.applications import update_application
from services.context import HubContext
from services.events import resolve_qr
from storage.models import Application
from workflows.application import ApplicationWorkflow
from workflows.messages import AttendanceReportRequest


async def report(ctx: HubContext, *, mykey_id: str, qr_payload: str) -> ReportOutcome:
    reported_at = ctx.clock()
    found = await resolve_qr(ctx, qr_payload)
    async with ctx.sessions() as session:
        application = (
            await session.execute(
                select(Application).where(
                    Application.measure_id == found.measure.id,
                    Application.mykey_id == mykey_id,
                )
            )
        ).scalar_one_or_none()
    if application is None:
        raise RuleViolation(
            "not_registered", "register for this event's measure before reporting", status=409
        )
    outcome: ReportOutcome = await update_application(
        ctx,
        application,
        ApplicationWorkflow.report_attendance,
        AttendanceReportRequest(event_id=found.event.id, reported_at=reported_at),
    )
    return outcome
