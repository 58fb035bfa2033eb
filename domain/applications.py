"""What deciding an application produces: its status and the grants it made.

Annotations are evaluated (no `from __future__ import annotations`): the payload converter
resolves these types inside the workflow sandbox, where string annotations do not resolve.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ApplicationStatus(StrEnum):
    GRANTED = "granted"
    PENDING_REVIEW = "pending_review"
    REJECTED = "rejected"


@dataclass
class GrantView:
    grant_id: str
    points: int
    state: str


@dataclass
class ApplicationDecision:
    status: str
    application_id: str
    municipality_code: str
    receipt_deadline: datetime
    grants: list[GrantView] = field(default_factory=list)


def grant_id_for(application_id: str, sequence: int) -> str:
    return f"{application_id}-g{sequence}"
