"""What every workflow of the hub shares: database steps as local activities, refusals, queues."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.types import RULE_VIOLATION

T = TypeVar("T")

# Only a schedule-to-close bound: with a start-to-close timeout, the SDK core spawns a timer per
# attempt and can panic when a stale one fires after a retry (seen under load). Attempts are
# short database transactions; the deadline bounds all of them together.
DB_DEADLINE = timedelta(minutes=10)
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=[RULE_VIOLATION],
)


class DatabaseStepFailed(RuntimeError):
    """Not a failure of the workflow: raising it fails the workflow task, which the server
    retries, so a database that is down for long only delays the lifecycle."""


async def db_step(name: str, argument: Any, result_type: type[T]) -> T:
    """A database unit of work, run as a local activity: no extra server round trip, and every
    unit of work is idempotent, so a retried step never writes twice."""
    try:
        result: T = await workflow.execute_local_activity(
            name,
            argument,
            result_type=result_type,
            schedule_to_close_timeout=DB_DEADLINE,
            retry_policy=DB_RETRY,
        )
    except ActivityError as error:
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.type == RULE_VIOLATION:
            raise
        raise DatabaseStepFailed(f"{name} did not succeed within {DB_DEADLINE}") from error
    return result


async def db_step_or_refusal(name: str, argument: Any, result_type: type[T]) -> T:
    """Like `db_step`, but a refused business rule is raised as the `ApplicationError` that an
    update handler hands back to its caller (the API maps its `code` to problem details)."""
    try:
        return await db_step(name, argument, result_type)
    except ActivityError as error:
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.type == RULE_VIOLATION:
            raise ApplicationError(
                cause.message, *cause.details, type=RULE_VIOLATION, non_retryable=True
            ) from error
        raise


def refusal(code: str, message: str, status: int = 409) -> ApplicationError:
    """A refusal raised in an update validator: it never enters the workflow history."""
    return ApplicationError(
        message,
        {"code": code, "status": status, "extra": {}},
        type=RULE_VIOLATION,
        non_retryable=True,
    )


def refusal_code(error: ApplicationError) -> str:
    if error.details and isinstance(error.details[0], dict):
        return str(error.details[0].get("code", "refused"))
    return "refused"
