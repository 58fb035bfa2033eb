"""The nightly reconciliation: started by a Temporal Schedule (cron in JST), it reconciles every
provider's previous business day, marks statements overdue past their deadline and looks again
at days with open breaks; one activity, retried by Temporal, heartbeating per day.

The schedule (`services.reconciliation_schedule`) skips a run while the previous one is still
going, and catches up a missed night within twelve hours.
"""

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.reconciliation import ReconcileInput, ReconcileResult

RUN_TIMEOUT = timedelta(hours=3)
HEARTBEAT = timedelta(minutes=5)
RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5), maximum_attempts=10)


@dataclass
class NightlyInput:
    as_of: str | None = None  # ISO; None: when the run starts


@workflow.defn(name="NightlyReconciliation")
class NightlyReconciliationWorkflow:
    @workflow.run
    async def run(self, start: NightlyInput) -> ReconcileResult:
        as_of = start.as_of or workflow.now().isoformat()
        result: ReconcileResult = await workflow.execute_activity(
            "reconcile_nightly",
            ReconcileInput(as_of=as_of),
            result_type=ReconcileResult,
            start_to_close_timeout=RUN_TIMEOUT,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
        if result.new_breaks:
            workflow.logger.warning(
                "nightly reconciliation of %s found %d new breaks",
                result.business_date,
                result.new_breaks,
            )
        return result
