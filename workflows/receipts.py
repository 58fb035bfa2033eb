"""Carrying receipts inside the application workflow: credit on the provider's queue, wait for
its answer, record it. One coroutine per receipt; the workflow starts and reaps them.

A receipt becomes stuck when the provider's retries are exhausted or its acknowledgement deadline
passes; from then on the carrier asks the provider for the credit status with back-off, and
support staff can retry at once, ask for the status, or return the points (only when the provider
says it did not credit them).
"""

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
        CreditStatusInput,
        CreditStatusResult,
        MarkStuckInput,
        MarkStuckResult,
        RecordOutcomeInput,
        RecordOutcomeResult,
        ReturnReceiptInput,
    )
    from adapters.providers.contract import PROVIDER_PERMANENT
    from domain.points import GrantState
    from domain.providers import ProviderPolicy, provider_queue
    from domain.receipts import TERMINAL_RECEIPT_STATES, ReceiptState
    from workflows.messages import (
        Acknowledgement,
        ApplicationState,
        ReceiptProgress,
        SupportAction,
        SupportOutcome,
    )
    from workflows.steps import db_step, refusal

CREDIT_TIMEOUT = timedelta(seconds=60)
STATUS_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5)
STATUS_POLL_MAX = timedelta(hours=6)
_FINAL_RECEIPTS = {s.value for s in TERMINAL_RECEIPT_STATES}
NOT_CREDITED = ("not_found", "rejected")
# A credit its provider confirmed it never made, reversed by reconciliation after this workflow
# recorded it: the signal carries the receipt's and the grant's new states.
CREDIT_REVERSAL = "credit-reversal"


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
        self.stuck_changed = False  # read and reset by the workflow (search attributes)

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def any_stuck(self) -> bool:
        return any(p.stuck_reason for p in self.state.receipts.values())

    def has_work(self) -> bool:
        """Something for the workflow loop to do: a receipt to start or a carrier to reap."""
        return (
            bool(self.state.receipts_to_start)
            or any(t.done() for t in self._tasks.values())
            or self.stuck_changed
        )

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

    # ----- messages from outside -----------------------------------------------------------

    def acknowledge(self, ack: Acknowledgement) -> None:
        """A provider's answer by webhook, pull or batch file; ignored once the receipt is final,
        but for a credit that reconciliation reversed."""
        progress = self.state.receipts.get(ack.receipt_id)
        if progress is None:
            return
        if progress.state in _FINAL_RECEIPTS:
            reversed_credit = (
                progress.state == ReceiptState.CREDITED.value
                and ack.receipt_state == ReceiptState.RETURNED.value
            )
            if reversed_credit and workflow.patched(CREDIT_REVERSAL):
                self._apply(
                    progress,
                    RecordOutcomeResult(
                        ack.receipt_id, ReceiptState.RETURNED.value, ack.grant_state
                    ),
                )
            return
        self.state.acknowledgements.setdefault(ack.receipt_id, ack)

    def retry(self, receipt_id: str) -> bool:
        """Another attempt now; while a call or its back-off is under way there is nothing to do."""
        progress = self.state.receipts.get(receipt_id)
        if progress is None or progress.state in _FINAL_RECEIPTS or progress.attempting:
            return False
        if receipt_id not in self.state.retry_requested:
            self.state.retry_requested.append(receipt_id)
        return True

    def validate_support(self, action: SupportAction) -> None:
        progress = self.state.receipts.get(action.receipt_id)
        if progress is None:
            raise refusal("not_found", "no such receipt in this application", status=404)
        if progress.state in _FINAL_RECEIPTS:
            raise refusal("receipt_final", f"the receipt is already {progress.state}")
        if action.action not in ("retry_now", "check_provider_status", "return_to_unreceived"):
            raise refusal("unknown_action", f"unknown support action {action.action!r}", 422)

    async def support(self, action: SupportAction) -> SupportOutcome:
        progress = self.state.receipts[action.receipt_id]
        if action.action == "retry_now":
            started = self.retry(action.receipt_id)
            return SupportOutcome(
                action.receipt_id,
                action.action,
                receipt_state=progress.state,
                message="another attempt was started"
                if started
                else "the provider is being called already; its retries continue",
            )
        if action.action == "return_to_unreceived" and progress.attempting:
            raise refusal(
                "credit_in_progress",
                "a credit call is under way; wait until it ends or its retries are exhausted",
            )
        answer = await self.check_status(progress)
        if action.action == "check_provider_status":
            return SupportOutcome(
                action.receipt_id,
                action.action,
                provider_status=answer.status,
                receipt_state=progress.state,
                message=f"the provider answered {answer.status}",
            )
        if answer.status not in NOT_CREDITED:
            raise refusal(
                "provider_not_confirmed_uncredited",
                f"the provider answered {answer.status}: the points cannot be returned",
            )
        recorded = await db_step(
            "return_receipt",
            ReturnReceiptInput(action.receipt_id, actor=action.actor, note=action.note),
            RecordOutcomeResult,
        )
        self._apply(progress, recorded)
        return SupportOutcome(
            action.receipt_id,
            action.action,
            provider_status=answer.status,
            receipt_state=progress.state,
            message="the points are unreceived again",
        )

    async def check_status(self, progress: ReceiptProgress) -> CreditStatusResult:
        """Ask the provider; a final answer is delivered like an acknowledgement."""
        answer = await workflow.execute_activity(
            "credit_status",
            CreditStatusInput(progress.plan.receipt_id, progress.plan.provider_id),
            result_type=CreditStatusResult,
            task_queue=provider_queue(progress.plan.provider_id),
            start_to_close_timeout=CREDIT_TIMEOUT,
            retry_policy=STATUS_RETRY,
        )
        progress.provider_status = answer.status
        if answer.status == "credited" or (
            answer.status == "rejected" and progress.state == ReceiptState.ACCEPTED.value
        ):
            self.acknowledge(
                Acknowledgement(
                    progress.plan.receipt_id,
                    answer.status,
                    answer.provider_reference,
                    answer.reason,
                )
            )
        return answer

    # ----- one receipt ---------------------------------------------------------------------

    def _final(self, receipt_id: str) -> bool:
        return self.state.receipts[receipt_id].state in _FINAL_RECEIPTS

    async def _carry(self, receipt_id: str) -> None:
        progress = self.state.receipts[receipt_id]
        if progress.plan.queued:  # on its provider's batch queue since the claim
            await self._await_answer(progress)
            return
        result = await self._credit(receipt_id)
        if result is None or self._final(receipt_id):
            return
        if result.status in ("credited", "rejected"):
            await self._record(receipt_id, result.status, result.provider_reference, result.reason)
        elif result.status == "accepted":
            progress.state = ReceiptState.CREDITING.value
            await self._record(receipt_id, "accepted", None, None)
            await self._await_answer(progress)
        else:  # the receipt was already final in the database
            progress.state = result.status

    async def _credit(self, receipt_id: str) -> CreditResult | None:
        """Credit until the provider answers; with retries exhausted, the receipt is stuck until
        support retries it, an answer arrives some other way, or its points are returned."""
        state = self.state
        progress = state.receipts[receipt_id]
        plan = progress.plan
        while True:
            progress.attempting = True
            try:
                result: CreditResult = await workflow.execute_activity(
                    "credit",
                    CreditInput(receipt_id=receipt_id, provider_id=plan.provider_id),
                    result_type=CreditResult,
                    task_queue=provider_queue(plan.provider_id),
                    start_to_close_timeout=CREDIT_TIMEOUT,
                    retry_policy=credit_retry(plan.policy),
                )
                return result
            except ActivityError as error:
                progress.attempts_exhausted = True
                progress.last_error = str(error.cause or error)
            finally:
                progress.attempting = False
            await self._mark_stuck(progress, "attempts_exhausted", progress.last_error)
            await workflow.wait_condition(
                lambda: (
                    receipt_id in state.retry_requested
                    or receipt_id in state.acknowledgements
                    or self._final(receipt_id)
                )
            )
            if receipt_id in state.retry_requested:
                state.retry_requested.remove(receipt_id)
                progress.attempts_exhausted = False
                continue
            if self._final(receipt_id):
                return None
            ack = state.acknowledgements[receipt_id]
            return CreditResult(receipt_id, ack.status, ack.provider_reference, ack.reason)

    async def _await_answer(self, progress: ReceiptProgress) -> None:
        """Wait for the acknowledgement; past the provider's deadline, mark the receipt stuck and
        ask the provider for the status with growing pauses."""
        state = self.state
        receipt_id = progress.plan.receipt_id
        wait = timedelta(seconds=progress.plan.policy.ack_deadline_s)
        while True:
            try:
                await workflow.wait_condition(
                    lambda: (
                        receipt_id in state.acknowledgements
                        or receipt_id in state.retry_requested
                        or self._final(receipt_id)
                    ),
                    timeout=wait,
                )
            except TimeoutError:
                await self._mark_stuck(progress, "no_acknowledgement", None)
                await self.check_status(progress)
                wait = min(wait * 2, STATUS_POLL_MAX)
                continue
            if self._final(receipt_id):
                return
            if receipt_id in state.retry_requested:
                state.retry_requested.remove(receipt_id)
                await self.check_status(progress)
                continue
            ack = state.acknowledgements[receipt_id]
            if ack.receipt_state is not None:  # applied when it was received
                self._apply(
                    progress, RecordOutcomeResult(receipt_id, ack.receipt_state, ack.grant_state)
                )
                return
            await self._record(receipt_id, ack.status, ack.provider_reference, ack.reason)
            return

    async def _mark_stuck(self, progress: ReceiptProgress, reason: str, detail: str | None) -> None:
        if progress.stuck_reason is not None:
            return
        await db_step(
            "mark_receipt_stuck",
            MarkStuckInput(progress.plan.receipt_id, reason, detail),
            MarkStuckResult,
        )
        progress.stuck_reason = reason
        self.stuck_changed = True

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
        self._apply(self.state.receipts[receipt_id], recorded)

    def _apply(self, progress: ReceiptProgress, recorded: RecordOutcomeResult) -> None:
        progress.state = recorded.state
        if recorded.state in _FINAL_RECEIPTS and progress.stuck_reason is not None:
            progress.stuck_reason = None
            self.stuck_changed = True
        grant = self.state.grants[progress.plan.grant_id]
        if recorded.grant_state is not None:
            grant.state = recorded.grant_state
        elif recorded.state == ReceiptState.CREDITED.value:  # histories before grant_state
            grant.state = GrantState.CREDITED.value
        elif recorded.state == ReceiptState.REJECTED.value:
            grant.state = GrantState.UNRECEIVED.value
