"""One dispatcher per `batch_file` provider: a small long-running workflow that runs a round of
`dispatch_batches`, both on the provider's dispatch queue (`dispatch-<provider>`), sleeps on a
durable timer until the next round is due, and continues as new before its history grows long.

Receipts never wait on each other here: each application workflow's `credit` activity only puts
its receipt in the database queue and waits for its acknowledgement signal.
"""

from dataclasses import dataclass, replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.batches import DispatchInput, DispatchResult
    from adapters.providers.contract import PROVIDER_PERMANENT
    from domain.providers import dispatch_queue, provider_queue

ROUND_TIMEOUT = timedelta(minutes=15)
ROUND_HEARTBEAT = timedelta(seconds=30)
ROUND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=[PROVIDER_PERMANENT],
)
AFTER_FAILURE = timedelta(seconds=60)
# The dispatcher and its rounds on the provider's dispatch queue (`dispatch_queue`), not the
# hub's queue and the provider's: a run started on the hub's queue continues as new onto it.
OWN_QUEUE = "dispatch-own-queue"


@dataclass
class DispatcherInput:
    provider_id: str
    rounds_per_run: int = 500
    own_queue: bool = False  # started on `dispatch_queue` (older code started it on the hub's)


@dataclass
class DispatcherStatus:
    rounds: int = 0
    files_written: int = 0
    result_files: int = 0
    last_error: str | None = None


@workflow.defn(name="BatchDispatcher")
class BatchDispatcherWorkflow:
    def __init__(self) -> None:
        self._status = DispatcherStatus()
        self._queue = ""

    @workflow.run
    async def run(self, start: DispatcherInput) -> None:
        if workflow.patched(OWN_QUEUE):
            self._queue = dispatch_queue(start.provider_id)
            if not start.own_queue:  # started by older code on the hub's queue: move
                workflow.continue_as_new(replace(start, own_queue=True), task_queue=self._queue)
        else:  # a run of older code, replayed: its rounds on the provider's queue
            self._queue = provider_queue(start.provider_id)
        status = self._status
        while status.rounds < start.rounds_per_run:
            pause = await self._round(start.provider_id)
            if workflow.info().is_continue_as_new_suggested():
                break
            await workflow.sleep(pause)
        workflow.continue_as_new(start)

    async def _round(self, provider_id: str) -> timedelta:
        """One round; a failing round is noted and tried again later, never ends the loop."""
        status = self._status
        status.rounds += 1
        try:
            result = await workflow.execute_activity(
                "dispatch_batches",
                DispatchInput(provider_id=provider_id),
                result_type=DispatchResult,
                task_queue=self._queue,
                start_to_close_timeout=ROUND_TIMEOUT,
                heartbeat_timeout=ROUND_HEARTBEAT,
                retry_policy=ROUND_RETRY,
            )
        except ActivityError as error:
            status.last_error = str(error.cause or error)
            workflow.logger.warning("batch round failed: %s", status.last_error)
            return AFTER_FAILURE
        status.files_written += result.files_written
        status.result_files += result.result_files
        status.last_error = None
        return timedelta(seconds=max(result.next_check_s, 0.05))

    @workflow.query
    def status(self) -> DispatcherStatus:
        return self._status
