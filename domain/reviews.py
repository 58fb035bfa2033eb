"""Human review by municipality staff: of late attendance reports and of applications to measures
that require it. Decisions are idempotent; a second, different decision is refused.

Annotations are evaluated (no `from __future__ import annotations`): `ReviewPlan` travels in
workflow payloads, whose types the converter resolves inside the workflow sandbox.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.errors import RuleViolation
from domain.points import GrantView


class ReviewKind(StrEnum):
    LATE_REPORT = "late_report"
    APPLICATION = "application"


class ReviewStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


DECIDED = {Decision.APPROVE: ReviewStatus.APPROVED, Decision.REJECT: ReviewStatus.REJECTED}


def check_decision(current: ReviewStatus, decision: Decision, reason: str | None) -> bool:
    """True when the decision must be applied, False when it repeats the one already made."""
    if decision is Decision.REJECT and not (reason or "").strip():
        raise RuleViolation("reason_required", "a rejection needs a reason", status=422)
    if current is ReviewStatus.PENDING:
        return True
    if DECIDED[decision] is current:
        return False
    raise RuleViolation(
        "review_already_decided", f"this review was already {current.value}", status=409
    )


@dataclass(frozen=True)
class ReviewPolicy:
    """When staff are reminded of an undecided review, and when the default decision applies."""

    remind_after: timedelta = timedelta(days=3)
    decide_after: timedelta = timedelta(days=14)
    default_decision: Decision = Decision.REJECT


@dataclass
class ReviewPlan:
    """What the workflow needs to keep a review's timers: never who the resident is."""

    review_id: str
    kind: str
    remind_at: datetime
    decide_by: datetime
    default_decision: str
    status: str = ReviewStatus.PENDING.value
    event_id: str | None = None


@dataclass
class ReviewResult:
    """A review after a decision, for the workflow that owns it."""

    review_id: str
    status: str
    changed: bool  # False when the decision repeated the one already made
    grant: GrantView | None = None
    application_status: str | None = None
