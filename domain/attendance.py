"""Attendance reports (参加報告): on time, late for review, or too late (SPEC §2, FAQ 事後報告).

Annotations are evaluated (no `from __future__ import annotations`): `ReportOutcome` travels in
workflow payloads, whose types the converter resolves inside the workflow sandbox.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.errors import RuleViolation
from domain.measures import EventTerms
from domain.points import GrantView
from domain.reviews import ReviewPlan


class ReportTiming(StrEnum):
    ON_TIME = "on_time"  # accepted and granted automatically
    LATE = "late"  # waits for municipality staff


class ReportStatus(StrEnum):
    ACCEPTED = "accepted"
    PENDING_REVIEW = "pending_review"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ReportJudgement:
    timing: ReportTiming
    lateness: timedelta  # zero for on-time reports


def judge_report(
    event: EventTerms, reported_at: datetime, *, grace: timedelta, late_report_days: int
) -> ReportJudgement:
    """A scan inside the event window plus the grace period is on time; after it, within the
    measure's late-report days, it is late; later, or when the measure allows none, refused."""
    if reported_at < event.starts_at:
        raise RuleViolation(
            "event_not_started",
            "the event has not started yet",
            status=409,
            starts_at=event.starts_at.isoformat(),
        )
    on_time_until = event.ends_at + grace
    if reported_at <= on_time_until:
        return ReportJudgement(ReportTiming.ON_TIME, timedelta(0))
    late_until = event.ends_at + timedelta(days=late_report_days)
    if late_report_days > 0 and reported_at <= late_until:
        return ReportJudgement(ReportTiming.LATE, reported_at - on_time_until)
    raise RuleViolation(
        "report_window_closed",
        "this event can no longer be reported"
        if late_report_days > 0
        else "this measure accepts attendance reports only during the event",
        status=409,
    )


@dataclass
class ReportOutcome:
    """What became of one attendance report, for the resident and for the workflow."""

    report_id: str
    event_id: str
    status: str  # accepted | pending_review
    grant: GrantView | None = None
    review: ReviewPlan | None = None
