"""How activities report refusals and provider failures to workflows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio.exceptions import ApplicationError

from activities.types import RULE_VIOLATION
from adapters.providers.contract import (
    PROVIDER_PERMANENT,
    PROVIDER_TRANSIENT,
    PermanentProviderError,
    TransientProviderError,
)
from domain.errors import RuleViolation


def rule_error(violation: RuleViolation) -> ApplicationError:
    """A refused business rule: never retried; the code travels to the API caller."""
    return ApplicationError(
        violation.detail,
        {"code": violation.code, "status": violation.status, "extra": violation.extra},
        type=RULE_VIOLATION,
        non_retryable=True,
    )


@asynccontextmanager
async def refusals() -> AsyncIterator[None]:
    """A rule the unit of work refuses leaves the activity as `rule_error`:
    `async with refusals(), sessions.begin() as session: ...`."""
    try:
        yield
    except RuleViolation as violation:
        raise rule_error(violation) from violation


def provider_error(error: TransientProviderError | PermanentProviderError) -> ApplicationError:
    if isinstance(error, PermanentProviderError):
        return ApplicationError(str(error), type=PROVIDER_PERMANENT, non_retryable=True)
    delay = timedelta(seconds=error.retry_after_s) if error.retry_after_s else None
    return ApplicationError(str(error), type=PROVIDER_TRANSIENT, next_retry_delay=delay)
