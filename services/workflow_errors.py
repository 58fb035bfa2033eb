"""Turning a refused update into the problem the API caller should see."""

from __future__ import annotations

from typing import Any

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.types import RULE_VIOLATION
from domain.errors import RuleViolation


def violation_from(error: WorkflowUpdateFailedError) -> RuleViolation | None:
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == RULE_VIOLATION and cause.details:
        info: dict[str, Any] = cause.details[0]
        return RuleViolation(
            str(info.get("code", "refused")),
            cause.message,
            status=int(info.get("status", 422)),
            **dict(info.get("extra") or {}),
        )
    return None
