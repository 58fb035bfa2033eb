"""Carrying receipts inside the application workflow: credit on the provider's queue, wait for
its answer, record it. One coroutine per receipt; the workflow starts and reaps them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.types import (
        CreditInput,
        CreditResult,
        RecordOutcomeInput,
        RecordOutcomeResult,
    )
    from adapters.providers.contract import PROVIDER_PERMANENT
    from domain.points import GrantState
    from domain.providers import ProviderPolicy, provider_queue
    from domain.receipts import TERMINAL_RECEIPT_STATES, ReceiptState
    from workflows.messages import Acknowledgement, ApplicationState
    from workflows.steps import db_step

CREDIT_TIMEOUT = timedelta(seconds=60)
_FINAL_RECEIPTS = {s.value for s in TERMINAL_RECEIPT_STATES}


def credit_retry(policy: ProviderPolicy) -> RetryPolicy:
    """The provider's own retry policy; refusals of the request itself are never retried."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=policy.retry.initial_interval_s),
        backoff_coefficient=policy.retry.backoff,
        maximum_interval=timedelta(seconds=policy.retry.max_interval_s),
        maximum_attempts=policy.retry.max_attempts,
        non_retryable_error_types=[PROVIDER_PERMANENT],
    )


class ReceiptCarrier:
    """The receipts of one application, each carried by its own coroutine."""

    def __init__(self, state: ApplicationState) -> None:
        self.state = state
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def has_work(self) -> bool:
        """Something for the workflow loop to do: a receipt to start or a carrier to reap."""
        return bool(self.state.receipts_to_start) or any(t.done() for t in self._tasks.values())

    def start_pending(self) -> None:
        while self.state.receipts_to_start:
            receipt_id = self.state.receipts_to_start.pop(0)
            self._tasks[receipt_id] = asyncio.create_task(self._carry(receipt_id))

    def reap(self) -> None:
        """Forget finished carriers; one that failed fails this workflow task loudly."""
        for receipt_id, task in list(self._tasks.items()):
            if task.done():
                del self._tasks[receipt_id]
                task.result()

    def acknowledge(self, ack: Acknowledgement) -> None:
        """A provider's answer by webhook or pull; ignored once the receipt is final."""
        progress = self.state.receipts.get(ack.receipt_id)
        if progress is None or progress.state in _FINAL_RECEIPTS:
            return
        self.state.acknowledgements.setdefault(ack.receipt_id, ack)

    def retry(self, receipt_id: str) -> None:
        progress = self.state.receipts.get(receipt_id)
        if progress is not None and progress.attempts_exhausted:
            self.state.retry_requested.append(receipt_id)

    async def _carry(self, receipt_id: str) -> None:
        state = self.state
        progress = state.receipts[receipt_id]
        plan = progress.plan
        while True:
            try:
                result = await workflow.execute_activity(
                    "credit",
                    CreditInput(receipt_id=receipt_id, provider_id=plan.provider_id),
                    result_type=CreditResult,
                    task_queue=provider_queue(plan.provider_id),
                    start_to_close_timeout=CREDIT_TIMEOUT,
                    retry_policy=credit_retry(plan.policy),
                )
                break
            except ActivityError as error:
                progress.attempts_exhausted = True
                progress.last_error = str(error.cause or error)
                await workflow.wait_condition(lambda: receipt_id in state.retry_requested)
                state.retry_requested.remove(receipt_id)
                progress.attempts_exhausted = False
        progress.state = ReceiptState.CREDITING.value
        if result.status == "accepted":
            await self._record(receipt_id, "accepted", None, None)
            await workflow.wait_condition(lambda: receipt_id in state.acknowledgements)
            ack = state.acknowledgements[receipt_id]
            await self._record(receipt_id, ack.status, ack.provider_reference, ack.reason)
        elif result.status in ("credited", "rejected"):
            await self._record(receipt_id, result.status, result.provider_reference, result.reason)
        else:  # the receipt was already final in the database
            progress.state = result.status

    async def _record(
        self, receipt_id: str, status: str, reference: str | None, reason: str | None
    ) -> None:
        recorded = await db_step(
            "record_credit_outcome",
            RecordOutcomeInput(
                receipt_id=receipt_id, status=status, provider_reference=reference, reason=reason
            ),
            RecordOutcomeResult,
        )
        progress = self.state.receipts[receipt_id]
        progress.state = recorded.state
        grant = self.state.grants[progress.plan.grant_id]
        if recorded.grant_state is not None:
            grant.state = recorded.grant_state
        elif recorded.state == ReceiptState.CREDITED.value:  # histories before grant_state
            grant.state = GrantState.CREDITED.value
        elif recorded.state == ReceiptState.REJECTED.value:
            grant.state = GrantState.UNRECEIVED.value
