"""Reviews staff owe: opened by late reports and review-required applications, decided once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications import event_grant_id, grant_id_for
from domain.errors import RuleViolation
from domain.reviews import (
    DECIDED,
    Decision,
    ReviewKind,
    ReviewPlan,
    ReviewPolicy,
    ReviewResult,
    ReviewStatus,
    check_decision,
)
from storage.grants import grant_points, locked_application
from storage.models import Application, Measure
from storage.models.events import Event
from storage.models.reviews import AttendanceReport, Review


def plan_of(review: Review) -> ReviewPlan:
    return ReviewPlan(
        review_id=review.id,
        kind=review.kind,
        remind_at=review.remind_at,
        decide_by=review.decide_by,
        default_decision=review.default_decision,
        status=review.status,
        event_id=review.event_id,
    )


def open_review(
    session: AsyncSession,
    *,
    review_id: str,
    kind: ReviewKind,
    application: Application,
    municipality_code: str,
    policy: ReviewPolicy,
    now: datetime,
    event_id: str | None = None,
    report_id: str | None = None,
) -> Review:
    review = Review(
        id=review_id,
        kind=kind.value,
        municipality_code=municipality_code,
        measure_id=application.measure_id,
        application_id=application.id,
        workflow_id=application.workflow_id,
        event_id=event_id,
        report_id=report_id,
        status=ReviewStatus.PENDING.value,
        reason=None,
        decided_by=None,
        decided_at=None,
        remind_at=now + policy.remind_after,
        reminded_at=None,
        decide_by=now + policy.decide_after,
        default_decision=policy.default_decision.value,
        created_at=now,
    )
    session.add(review)
    return review


async def locked_review(session: AsyncSession, review_id: str) -> Review:
    review = (
        await session.execute(select(Review).where(Review.id == review_id).with_for_update())
    ).scalar_one_or_none()
    if review is None:
        raise RuleViolation("not_found", "no such review", status=404)
    return review


def record_decision(
    review: Review, decision: Decision, reason: str | None, *, actor: str, now: datetime
) -> bool:
    """Write the decision on the review; False when it only repeats the earlier one."""
    if not check_decision(ReviewStatus(review.status), decision, reason):
        return False
    review.status = DECIDED[decision].value
    review.reason = (reason or "").strip() or None
    review.decided_by = actor
    review.decided_at = now
    return True


async def close_pending(
    session: AsyncSession, application_id: str, *, reason: str, actor: str, now: datetime
) -> None:
    """A revoked MyKey ID leaves nothing for staff to decide."""
    await session.execute(
        update(Review)
        .where(Review.application_id == application_id, Review.status == ReviewStatus.PENDING.value)
        .values(status=ReviewStatus.REJECTED.value, reason=reason, decided_by=actor, decided_at=now)
    )


async def mark_reminded(session: AsyncSession, review_id: str, *, now: datetime) -> bool:
    result = await session.execute(
        update(Review)
        .where(
            Review.id == review_id,
            Review.status == ReviewStatus.PENDING.value,
            Review.reminded_at.is_(None),
        )
        .values(reminded_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def decide(
    session: AsyncSession,
    review_id: str,
    decision: Decision,
    reason: str | None,
    *,
    actor: str,
    now: datetime,
) -> ReviewResult:
    """Apply a decision once. Approving a late report grants the event's points; approving an
    application grants the measure's; both within the cap and the budget, or not at all."""
    review = await locked_review(session, review_id)
    application = await locked_application(session, review.application_id)
    if not record_decision(review, decision, reason, actor=actor, now=now):
        return ReviewResult(
            review.id, review.status, changed=False, application_status=application.state
        )
    result = ReviewResult(review.id, review.status, changed=True)
    measure = await session.get(Measure, review.measure_id)
    assert measure is not None
    if review.kind == ReviewKind.LATE_REPORT.value:
        report = await session.get(AttendanceReport, review.report_id)
        event = await session.get(Event, review.event_id)
        assert report is not None and event is not None
        if decision is Decision.APPROVE:
            result.grant = await grant_points(
                session,
                application=application,
                measure=measure,
                points=event.points,
                grant_id=event_grant_id(application.id, event.id),
                actor=actor,
                now=now,
                event_id=event.id,
            )
            report.grant_id = result.grant.grant_id
            report.status = "accepted"
        else:
            report.status = "rejected"
    elif decision is Decision.APPROVE:
        result.grant = await grant_points(
            session,
            application=application,
            measure=measure,
            points=measure.points_per_grant,
            grant_id=grant_id_for(application.id, 1),
            actor=actor,
            now=now,
        )
        application.state = "granted"
        application.decided_at = now
    else:
        application.state = "rejected"
        application.decided_at = now
    result.application_status = application.state
    return result
