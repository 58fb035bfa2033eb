"""Database units of work for attendance reports and reviews, run as local activities."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import activity

from activities.applications import WORKFLOW_ACTOR, utcnow
from activities.errors import refusals
from activities.types import (
    DecideReviewInput,
    RecordAttendanceInput,
    RemindReviewInput,
    RemindReviewResult,
)
from domain.attendance import ReportOutcome
from domain.reviews import Decision, ReviewPolicy, ReviewResult
from storage import attendance, audit, reviews
from storage.database import SessionFactory


class AttendanceActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        policy: ReviewPolicy,
        grace: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.policy = policy
        self.grace = grace
        self.clock = clock

    @activity.defn(name="record_attendance")
    async def record_attendance(self, request: RecordAttendanceInput) -> ReportOutcome:
        async with refusals(), self.sessions.begin() as session:
            outcome = await attendance.record_report(
                session,
                application_id=request.application_id,
                event_id=request.event_id,
                reported_at=request.reported_at,
                grace=self.grace,
                policy=self.policy,
                now=self.clock(),
                actor=WORKFLOW_ACTOR,
            )
            audit.record(
                session,
                actor=WORKFLOW_ACTOR,
                action="record_attendance",
                object_type="event",
                object_id=request.event_id,
                outcome=outcome.status,
                detail={"report_id": outcome.report_id},
            )
            return outcome

    @activity.defn(name="decide_review")
    async def decide_review(self, request: DecideReviewInput) -> ReviewResult:
        async with refusals(), self.sessions.begin() as session:
            result = await reviews.decide(
                session,
                request.review_id,
                Decision(request.decision),
                request.reason,
                actor=request.actor,
                now=self.clock(),
            )
            audit.record(
                session,
                actor=request.actor,
                action="decide_review",
                object_type="review",
                object_id=request.review_id,
                outcome=result.status if result.changed else "unchanged",
                detail={"reason": request.reason},
            )
            return result

    @activity.defn(name="remind_review")
    async def remind_review(self, request: RemindReviewInput) -> RemindReviewResult:
        async with self.sessions.begin() as session:
            reminded = await reviews.mark_reminded(session, request.review_id, now=self.clock())
            audit.record(
                session,
                actor=WORKFLOW_ACTOR,
                action="remind_review",
                object_type="review",
                object_id=request.review_id,
                outcome="reminded" if reminded else "unchanged",
            )
        return RemindReviewResult(review_id=request.review_id, reminded=reminded)
