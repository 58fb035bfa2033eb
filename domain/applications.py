"""What deciding an application produces: its status and the grants it made.

Annotations are evaluated (no `from __future__ import annotations`): the payload converter
resolves these types inside the workflow sandbox, where string annotations do not resolve.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.points import GrantView
from domain.reviews import ReviewPlan

__all__ = [
    "ApplicationDecision",
    "ApplicationStatus",
    "GrantView",
    "event_grant_id",
    "grant_id_for",
]


class ApplicationStatus(StrEnum):
    GRANTED = "granted"  # application measure: points granted
    REGISTERED = "registered"  # event measure: points come per attended event
    PENDING_REVIEW = "pending_review"
    REJECTED = "rejected"


@dataclass
class ApplicationDecision:
    status: str
    application_id: str
    municipality_code: str
    receipt_deadline: datetime
    grants: list[GrantView] = field(default_factory=list)
    kind: str = "application"
    review: ReviewPlan | None = None


def grant_id_for(application_id: str, sequence: int) -> str:
    return f"{application_id}-g{sequence}"


def event_grant_id(application_id: str, event_id: str) -> str:
    """One grant per attended event, named by both: a report can never grant twice."""
    return f"{application_id}-{event_id}"
