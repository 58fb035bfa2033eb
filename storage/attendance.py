"""Attendance reports: judged against the event and the measure, granted or sent to review."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications import ApplicationStatus, event_grant_id
from domain.attendance import ReportOutcome, ReportStatus, ReportTiming, judge_report
from domain.errors import RuleViolation
from domain.reviews import ReviewKind, ReviewPolicy
from storage.events import event_of_measure
from storage.grants import grant_points, locked_application
from storage.models.reviews import AttendanceReport
from storage.reviews import open_review, plan_of


async def record_report(
    session: AsyncSession,
    *,
    application_id: str,
    event_id: str,
    reported_at: datetime,
    grace: timedelta,
    policy: ReviewPolicy,
    now: datetime,
    actor: str,
) -> ReportOutcome:
    application = await locked_application(session, application_id)
    if application.state != ApplicationStatus.REGISTERED.value:
        raise RuleViolation(
            "not_registered", "register for this measure before reporting attendance", status=409
        )
    found = await event_of_measure(session, event_id)
    if found.measure.id != application.measure_id:
        raise RuleViolation(
            "not_registered",
            "this event belongs to a measure you have not registered for",
            status=409,
        )
    earlier = await session.execute(
        select(AttendanceReport.id).where(
            AttendanceReport.event_id == event_id,
            AttendanceReport.mykey_id == application.mykey_id,
        )
    )
    if earlier.first() is not None:
        raise RuleViolation("already_reported", "this event was already reported", status=409)
    judgement = judge_report(
        found.event_terms,
        reported_at,
        grace=grace,
        late_report_days=found.measure.late_report_days,
    )
    report = AttendanceReport(
        id=f"rpt_{application_id[4:]}-{event_id}",
        application_id=application_id,
        measure_id=application.measure_id,
        event_id=event_id,
        mykey_id=application.mykey_id,
        reported_at=reported_at,
        timing=judgement.timing.value,
        lateness_s=int(judgement.lateness.total_seconds()),
        status=ReportStatus.ACCEPTED.value,
        grant_id=None,
        review_id=None,
        created_at=now,
    )
    outcome = ReportOutcome(report_id=report.id, event_id=event_id, status=report.status)
    if judgement.timing is ReportTiming.ON_TIME:
        outcome.grant = await grant_points(
            session,
            application=application,
            measure=found.measure,
            points=found.event.points,
            grant_id=event_grant_id(application_id, event_id),
            actor=actor,
            now=now,
            event_id=event_id,
        )
        report.grant_id = outcome.grant.grant_id
    else:
        report.status = ReportStatus.PENDING_REVIEW.value
        review = open_review(
            session,
            review_id=f"rev_{report.id[4:]}",
            kind=ReviewKind.LATE_REPORT,
            application=application,
            municipality_code=found.measure.municipality_code,
            policy=policy,
            now=now,
            event_id=event_id,
            report_id=report.id,
        )
        report.review_id = review.id
        outcome.status = report.status
        outcome.review = plan_of(review)
    session.add(report)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise RuleViolation(
            "already_reported", "this event was already reported", status=409
        ) from exc
    return outcome
