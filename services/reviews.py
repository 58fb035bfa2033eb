"""The review queue of a municipality, and staff decisions sent into the application workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from domain.errors import RuleViolation
from domain.privacy import refuse_my_numbers
from domain.reviews import DECIDED, Decision, ReviewResult, ReviewStatus
from services.applications import update_application
from services.context import HubContext
from storage.models import Application, Measure
from storage.models.events import Event
from storage.models.reviews import AttendanceReport, Review
from workflows.application import ApplicationWorkflow
from workflows.messages import ReviewDecisionRequest


@dataclass
class QueuedReview:
    """One row of the review queue: what staff need to decide, without who the resident is."""

    review: Review
    measure_title: str
    event: Event | None
    report: AttendanceReport | None

    @property
    def lateness_s(self) -> int | None:
        return None if self.report is None else self.report.lateness_s


async def review_queue(
    ctx: HubContext,
    municipality_code: str,
    *,
    status: ReviewStatus | None = ReviewStatus.PENDING,
    measure_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[QueuedReview]:
    query = (
        select(Review, Measure.title, Event, AttendanceReport)
        .join(Measure, Measure.id == Review.measure_id)
        .outerjoin(Event, Event.id == Review.event_id)
        .outerjoin(AttendanceReport, AttendanceReport.id == Review.report_id)
        .where(Review.municipality_code == municipality_code)
        .order_by(Review.created_at, Review.id)
        .limit(limit)
        .offset(offset)
    )
    if status is not None:
        query = query.where(Review.status == status.value)
    if measure_id is not None:
        query = query.where(Review.measure_id == measure_id)
    async with ctx.sessions() as session:
        rows = (await session.execute(query)).all()
    return [QueuedReview(review, title, event, report) for review, title, event, report in rows]


async def decide(
    ctx: HubContext,
    municipality_code: str,
    review_id: str,
    *,
    decision: Decision,
    reason: str | None,
    actor: str,
    at: datetime | None = None,
) -> ReviewResult:
    refuse_my_numbers(reason=reason)
    async with ctx.sessions() as session:
        review = await session.get(Review, review_id)
        if review is None or review.municipality_code != municipality_code:
            raise RuleViolation("not_found", "no such review", status=404)
        application = await session.get(Application, review.application_id)
        assert application is not None
    if review.status != ReviewStatus.PENDING.value:
        # Decided already (its workflow may have ended): a repeat answers as before, a
        # different decision is refused, and no workflow is woken for either.
        if DECIDED[decision].value != review.status:
            raise RuleViolation(
                "review_already_decided", f"this review was already {review.status}", status=409
            )
        return ReviewResult(
            review.id, review.status, changed=False, application_status=application.state
        )
    result: ReviewResult = await update_application(
        ctx,
        application,
        ApplicationWorkflow.decide_review,
        ReviewDecisionRequest(review_id, decision.value, reason, actor),
    )
    return result
