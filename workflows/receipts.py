"""Carrying receipts inside the application workflow: one coroutine per receipt walks it through
the state machine of `domain.receipt_machine` (ready, crediting, awaiting, polling, stuck,
paused, final); this module only orchestrates what that machine allows.

Nothing a provider does fails the workflow: credit and status activities return provider
failures as data (`failure`), an activity that still fails is turned into such a failure, and
waiting for an answer is durable timers with back-off to a cap, for as long as it takes.
One receipt has one actor at a time: the carrier's own steps and support actions hold the
receipt's lock, and every decision is checked again after every await.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
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
        OpenReceiptView,
        RecordOutcomeInput,
        RecordOutcomeResult,
        ReturnReceiptInput,
    )
    from adapters.providers.contract import PROVIDER_PERMANENT
    from domain.points import GrantState
    from domain.provider_errors import failure
    from domain.providers import ProviderPolicy, provider_queue
    from domain.receipt_machine import (
        FINAL_RECEIPT_STATES,
        Phase,
        after_retry_status,
        backoff_s,
        may_return,
        move,
        phase_of,
        status_applies,
    )
    from domain.receipts import ReceiptState
    from workflows import revisions
    from workflows.messages import (
        Acknowledgement,
        ApplicationState,
        ReceiptProgress,
        SupportAction,
        SupportOutcome,
    )
    from workflows.steps import db_step, db_step_or_refusal, refusal

CREDIT_TIMEOUT = timedelta(seconds=60)
STATUS_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5)
STATUS_POLL_MAX = timedelta(hours=6)
PAUSE_WAIT_FIRST = timedelta(minutes=1)
PAUSE_WAIT_MAX = timedelta(minutes=30)
SUPPORT_ACTIONS = ("retry_now", "check_provider_status", "return_to_unreceived")
# A credit its provider confirmed it never made, reversed by reconciliation after this workflow
# recorded it: the signal carries the receipt's and the grant's new states.
CREDIT_REVERSAL = "credit-reversal"
# The carrier as one state machine (issue 17): `retry_now` on a stuck receipt asks the
# provider's status before crediting again, a receipt request repeated in one activation starts
# no second carrier, and the workflow continues as new while carriers wait.
RECEIPT_MACHINE = "receipt-machine"
# F5 (docs/reliability.md): a rejection the provider's status later contradicted, credited where
# the answer was received (`services/contradictions.py`), reaches a running workflow.
CONTRADICTION_SETTLED = "contradiction-settled"
# A final receipt changed where an answer was received, and the patch that lets a running
# workflow take it: (the workflow's state, the new state) -> patch.
FINAL_CORRECTIONS = {
    (ReceiptState.CREDITED.value, ReceiptState.RETURNED.value): CREDIT_REVERSAL,
    (ReceiptState.REJECTED.value, ReceiptState.CREDITED.value): CONTRADICTION_SETTLED,
}
# F4 (docs/reliability.md): `retry_now` on a stuck receipt whose status check gets no answer
# (the provider still failing, rate limited) credits again instead of doing nothing: the receipt
# ID is the idempotency key, and the credit's own retries wait out the provider.
RETRY_WITHOUT_STATUS = "retry-without-status"


def credit_retry(policy: ProviderPolicy) -> RetryPolicy:
    """The provider's own retry policy; refusals of the request itself are never retried."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=policy.retry.initial_interval_s),
        backoff_coefficient=policy.retry.backoff,
        maximum_interval=timedelta(seconds=policy.retry.max_interval_s),
        maximum_attempts=policy.retry.max_attempts,
        non_retryable_error_types=[PROVIDER_PERMANENT],
    )


class CarrierBroken(RuntimeError):
    """A carrier ended with an error that is not a provider's (a bug, a refused database rule):
    raised as a plain error, it fails the workflow task, which the server retries, never the
    workflow execution."""


class ReceiptCarrier:
    """The receipts of one application, each carried by its own coroutine."""

    def __init__(self, state: ApplicationState) -> None:
        self.state = state
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.machine: bool | None = None  # RECEIPT_MACHINE, once asked
        self.stuck_changed = False  # read and reset by the workflow (search attributes)
        for receipt_id, progress in state.receipts.items():  # carried over by continue-as-new
            if not progress.phase:
                progress.phase = phase_of(
                    progress.state,
                    stuck=progress.stuck_reason is not None,
                    queued=progress.plan.queued,
                )
            if progress.phase != Phase.FINAL and receipt_id not in state.receipts_to_start:
                state.receipts_to_start.append(receipt_id)

    def take_up(self, open_receipts: list[OpenReceiptView]) -> list[str]:
        """Receipts still waiting for their provider, from the database, for a run started after
        the application's workflow ended: each carried on from its phase."""
        taken = []
        for found in open_receipts:
            receipt_id = found.plan.receipt_id
            if receipt_id in self.state.receipts:
                continue
            self.state.receipts[receipt_id] = ReceiptProgress(
                plan=found.plan,
                state=found.state,
                stuck_reason=found.stuck_reason,
                phase=phase_of(
                    found.state, stuck=found.stuck_reason is not None, queued=found.plan.queued
                ).value,
            )
            self.state.receipts_to_start.append(receipt_id)
            taken.append(receipt_id)
        return taken

    def patched(self) -> bool:
        if self.machine is None:
            self.machine = revisions.patched(RECEIPT_MACHINE)
        return self.machine

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def parked(self) -> bool:
        """Every carrier waits (for an answer, a timer or support): none holds its receipt, so
        the workflow may continue as new and the next run carries on from the phases."""
        return bool(self.machine) and not any(
            self._lock(receipt_id).locked() for receipt_id in self._tasks
        )

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
        if self.state.receipts_to_start:
            self.patched()
        while self.state.receipts_to_start:
            receipt_id = self.state.receipts_to_start.pop(0)
            running = self._tasks.get(receipt_id)
            if running is not None and not running.done() and self.machine:
                continue  # one carrier per receipt
            self._tasks[receipt_id] = asyncio.create_task(self._carry(receipt_id))

    def reap(self) -> None:
        """Forget finished carriers; one that broke fails this workflow task, not the workflow."""
        for receipt_id, task in list(self._tasks.items()):
            if task.done():
                del self._tasks[receipt_id]
                error = task.exception()
                if error is not None:
                    raise CarrierBroken(f"the carrier of {receipt_id} broke: {error}") from error

    def _lock(self, receipt_id: str) -> asyncio.Lock:
        return self._locks.setdefault(receipt_id, asyncio.Lock())

    def _final(self, receipt_id: str) -> bool:
        return self.state.receipts[receipt_id].state in FINAL_RECEIPT_STATES

    # ----- messages from outside -----------------------------------------------------------

    def acknowledge(self, ack: Acknowledgement) -> None:
        """A provider's answer by webhook, pull or batch file; ignored once the receipt is final,
        but for a final state changed where an answer was received (`FINAL_CORRECTIONS`)."""
        progress = self.state.receipts.get(ack.receipt_id)
        if progress is None:
            return
        if progress.state in FINAL_RECEIPT_STATES:
            patch = FINAL_CORRECTIONS.get((progress.state, ack.receipt_state or ""))
            if patch is not None and ack.receipt_state and revisions.patched(patch):
                self._apply(
                    progress,
                    RecordOutcomeResult(ack.receipt_id, ack.receipt_state, ack.grant_state),
                )
                if patch == CONTRADICTION_SETTLED:
                    self.stuck_changed = True  # the loop publishes the change and may finish
            return
        self.state.acknowledgements.setdefault(ack.receipt_id, ack)

    def validate_support(self, action: SupportAction) -> None:
        progress = self.state.receipts.get(action.receipt_id)
        if progress is None:
            raise refusal("not_found", "no such receipt in this application", status=404)
        if progress.state in FINAL_RECEIPT_STATES:
            raise refusal("receipt_final", f"the receipt is already {progress.state}")
        if action.action not in SUPPORT_ACTIONS:
            raise refusal("unknown_action", f"unknown support action {action.action!r}", 422)
        if action.action == "return_to_unreceived" and progress.phase == Phase.CREDITING:
            raise _credit_in_progress()

    async def support(self, action: SupportAction) -> SupportOutcome:
        progress = self.state.receipts[action.receipt_id]
        if action.action == "retry_now":
            return self._retry(progress, action)
        async with self._lock(action.receipt_id):  # one actor per receipt
            return await self._support_holding(progress, action)

    def _retry(self, progress: ReceiptProgress, action: SupportAction) -> SupportOutcome:
        """Another attempt now: the carrier takes it (a stuck receipt's provider is asked its
        status first); while a call is under way there is nothing to do."""
        started = progress.phase != Phase.CREDITING and progress.state not in FINAL_RECEIPT_STATES
        if started:
            progress.retry = True
        return SupportOutcome(
            action.receipt_id,
            action.action,
            receipt_state=progress.state,
            message="another attempt was started"
            if started
            else "the provider is being called already; its retries continue",
        )

    async def _support_holding(
        self, progress: ReceiptProgress, action: SupportAction
    ) -> SupportOutcome:
        receipt_id = action.receipt_id
        if self._final(receipt_id):  # decided while this action waited for the receipt
            raise refusal("receipt_final", f"the receipt is already {progress.state}")
        if action.action == "return_to_unreceived" and progress.phase == Phase.CREDITING:
            raise _credit_in_progress()
        answer = await self.check_status(progress)
        said = answer.failure.code if answer.failure else answer.status
        if action.action == "check_provider_status":
            return SupportOutcome(
                receipt_id,
                action.action,
                provider_status=answer.status,
                receipt_state=progress.state,
                message=f"the provider answered {said}",
            )
        # Checked again after the await: an answer, a final state or a credit since then wins.
        if self._final(receipt_id) or receipt_id in self.state.acknowledgements:
            raise refusal("receipt_final", "the provider answered meanwhile: nothing to return")
        if not may_return(progress.phase, answer.status):
            raise refusal(
                "provider_not_confirmed_uncredited",
                f"the provider answered {said}: the points cannot be returned",
            )
        recorded = await db_step_or_refusal(
            "return_receipt",
            ReturnReceiptInput(receipt_id, action.actor, action.note, answer.pulls),
            RecordOutcomeResult,
        )
        self._apply(progress, recorded)
        return SupportOutcome(
            receipt_id,
            action.action,
            provider_status=answer.status,
            receipt_state=progress.state,
            message="the points are unreceived again"
            if progress.state == ReceiptState.RETURNED.value
            else f"the receipt is {progress.state}",
        )

    async def check_status(self, progress: ReceiptProgress) -> CreditStatusResult:
        """Ask the provider; a final answer is delivered like an acknowledgement. A failure, or
        a status word the hub does not know, comes back as `failure`: never raised."""
        receipt_id = progress.plan.receipt_id
        try:
            answer: CreditStatusResult = await workflow.execute_activity(
                "credit_status",
                CreditStatusInput(receipt_id, progress.plan.provider_id),
                result_type=CreditStatusResult,
                task_queue=provider_queue(progress.plan.provider_id),
                start_to_close_timeout=CREDIT_TIMEOUT,
                retry_policy=STATUS_RETRY,
            )
        except ActivityError as error:
            detail = str(error.cause or error)
            answer = CreditStatusResult(
                receipt_id, "failed", failure=failure("provider_unavailable", detail)
            )
        if answer.failure is not None:
            progress.failure_code = answer.failure.code
            progress.last_error = answer.failure.detail
            return answer
        progress.provider_status = answer.status
        if status_applies(answer.status, progress.state):
            self.acknowledge(
                Acknowledgement(receipt_id, answer.status, answer.provider_reference, answer.reason)
            )
        return answer

    # ----- one receipt ---------------------------------------------------------------------

    async def _carry(self, receipt_id: str) -> None:
        progress = self.state.receipts[receipt_id]
        steps: dict[Phase, Callable[[ReceiptProgress], object]] = {
            Phase.READY: self._credit,
            Phase.CREDITING: self._credit,  # a run carried over mid-call: the same key again
            Phase.AWAITING: self._await_answer,
            Phase.POLLING: self._await_answer,
            Phase.STUCK: self._stuck,
            Phase.PAUSED: self._paused,
        }
        while not self._final(receipt_id) and progress.phase != Phase.FINAL:
            await steps[Phase(progress.phase)](progress)  # type: ignore[misc]

    async def _credit(self, progress: ReceiptProgress) -> None:
        """One credit call with the provider's retries; its outcome moves the receipt on."""
        receipt_id = progress.plan.receipt_id
        async with self._lock(receipt_id):
            if self._final(receipt_id) or progress.phase not in (Phase.READY, Phase.CREDITING):
                return
            progress.retry = False
            progress.phase = Phase.CREDITING
            result = await self._call_credit(progress)
            if self._final(receipt_id):  # answered meanwhile (applied where it was received)
                return
            if result.status != "failed":  # the provider answered: no failure stands
                progress.failure_code = None
                progress.pause_wait_s = 0.0
            if result.status == "failed":
                found = result.failure
                progress.failure_code = found.code if found else None
                if result.paused:  # no receipt turns stuck for its provider's pause
                    progress.phase = move(progress.phase, Phase.PAUSED)
                    progress.pause_wait_s = backoff_s(
                        progress.pause_wait_s,
                        first_s=PAUSE_WAIT_FIRST.total_seconds(),
                        cap_s=PAUSE_WAIT_MAX.total_seconds(),
                    )
                    wait = timedelta(seconds=progress.pause_wait_s)
                    progress.next_check_at = workflow.now() + wait
                    return
                progress.pause_wait_s = 0.0
                await self._mark_stuck(progress, "attempts_exhausted", progress.last_error)
                progress.phase = move(progress.phase, Phase.STUCK)
            elif result.status in ("credited", "rejected"):
                await self._record(
                    receipt_id, result.status, result.provider_reference, result.reason, result
                )
            elif result.status == "accepted":
                progress.state = ReceiptState.CREDITING.value
                await self._record(receipt_id, "accepted", None, None, result)
                # The final answer may have overtaken the 202 (a result file applied where it
                # was received): recording `accepted` then found the receipt final.
                if not self._final(receipt_id):
                    self._awaiting(progress)
            else:  # the receipt was already final in the database
                progress.state = result.status
                progress.phase = Phase.FINAL

    async def _call_credit(self, progress: ReceiptProgress) -> CreditResult:
        plan = progress.plan
        try:
            result: CreditResult = await workflow.execute_activity(
                "credit",
                CreditInput(
                    plan.receipt_id,
                    plan.provider_id,
                    plan.policy.retry.max_attempts,
                    after_failure=progress.failure_code is not None,
                    record=revisions.lean(),
                ),
                result_type=CreditResult,
                task_queue=provider_queue(plan.provider_id),
                start_to_close_timeout=CREDIT_TIMEOUT,
                retry_policy=credit_retry(plan.policy),
            )
        except ActivityError as error:  # retries exhausted, or an activity of an older worker
            progress.last_error = str(error.cause or error)
            return CreditResult(plan.receipt_id, "failed")
        if result.failure is not None:
            progress.last_error = result.failure.detail
        return result

    def _awaiting(self, progress: ReceiptProgress) -> None:
        progress.phase = move(progress.phase, Phase.AWAITING)
        progress.poll_wait_s = float(progress.plan.policy.ack_deadline_s)
        progress.next_check_at = workflow.now() + timedelta(seconds=progress.poll_wait_s)

    async def _await_answer(self, progress: ReceiptProgress) -> None:
        """Wait for the acknowledgement; past the provider's deadline, mark the receipt stuck and
        ask the provider for the status with growing pauses, until an answer or support."""
        receipt_id = progress.plan.receipt_id
        if progress.next_check_at is None:  # queued at its claim, or carried over
            progress.poll_wait_s = progress.poll_wait_s or progress.plan.policy.ack_deadline_s
            progress.next_check_at = workflow.now() + timedelta(seconds=progress.poll_wait_s)
        woken = await self._wait(progress, progress.next_check_at - workflow.now())
        if self._final(receipt_id):
            return
        if receipt_id in self.state.acknowledgements:
            await self._take_answer(progress)
            return
        async with self._lock(receipt_id):
            if self._final(receipt_id) or receipt_id in self.state.acknowledgements:
                return
            if woken:  # support asked for a status check now; the back-off stays as it was
                progress.retry = False
                await self.check_status(progress)
                progress.next_check_at = workflow.now() + timedelta(seconds=progress.poll_wait_s)
                return
            await self._mark_stuck(progress, "no_acknowledgement", None)
            progress.phase = move(progress.phase, Phase.POLLING)
            await self.check_status(progress)
            progress.poll_wait_s = backoff_s(
                progress.poll_wait_s,
                first_s=progress.plan.policy.ack_deadline_s,
                cap_s=STATUS_POLL_MAX.total_seconds(),
            )
            progress.next_check_at = workflow.now() + timedelta(seconds=progress.poll_wait_s)

    async def _stuck(self, progress: ReceiptProgress) -> None:
        """Attempts exhausted: wait for an answer, a return or support's `retry_now`, which asks
        the provider's status before crediting again (and credits again when no status answer
        comes: a retry support asked for is never lost)."""
        receipt_id = progress.plan.receipt_id
        await self._wait(progress, None)
        if self._final(receipt_id) or progress.phase != Phase.STUCK:
            return
        if receipt_id in self.state.acknowledgements:
            await self._take_answer(progress)
            return
        async with self._lock(receipt_id):
            if self._final(receipt_id) or progress.phase != Phase.STUCK or not progress.retry:
                return
            progress.retry = False
            if self.patched():
                answer = await self.check_status(progress)
                if self._final(receipt_id) or receipt_id in self.state.acknowledgements:
                    return  # an answer to apply
                if answer.failure is not None and not revisions.patched(RETRY_WITHOUT_STATUS):
                    return  # before F4: no answer left the receipt stuck, support's retry lost
                after = after_retry_status(answer.status)
                if after == Phase.AWAITING:
                    self._awaiting(progress)
                    return
                if after == Phase.FINAL:
                    return
            progress.phase = move(progress.phase, Phase.READY)

    async def _paused(self, progress: ReceiptProgress) -> None:
        """The provider is paused: wait (a timer backing off to a cap), then send the credit
        again; the credit activity answers at once while the pause lasts."""
        receipt_id = progress.plan.receipt_id
        assert progress.next_check_at is not None
        await self._wait(progress, progress.next_check_at - workflow.now())
        if self._final(receipt_id):
            return
        if receipt_id in self.state.acknowledgements:
            await self._take_answer(progress)
            return
        progress.retry = False
        progress.phase = move(progress.phase, Phase.READY)

    async def _wait(self, progress: ReceiptProgress, limit: timedelta | None) -> bool:
        """Until an answer, a final state, another phase or support's request; True unless the
        time ran out."""
        receipt_id = progress.plan.receipt_id
        phase = progress.phase
        if limit is not None and limit < timedelta(0):
            limit = timedelta(0)
        try:
            await workflow.wait_condition(
                lambda: (
                    receipt_id in self.state.acknowledgements
                    or progress.retry
                    or progress.phase != phase
                    or self._final(receipt_id)
                ),
                timeout=limit,
            )
        except TimeoutError:
            return False
        return True

    async def _take_answer(self, progress: ReceiptProgress) -> None:
        receipt_id = progress.plan.receipt_id
        async with self._lock(receipt_id):
            if self._final(receipt_id):
                return
            ack = self.state.acknowledgements[receipt_id]
            if ack.receipt_state is not None:  # applied when it was received
                self._apply(
                    progress, RecordOutcomeResult(receipt_id, ack.receipt_state, ack.grant_state)
                )
                return
            await self._record(receipt_id, ack.status, ack.provider_reference, ack.reason)

    async def _mark_stuck(self, progress: ReceiptProgress, reason: str, detail: str | None) -> None:
        if progress.stuck_reason is not None:
            return
        await db_step(
            "mark_receipt_stuck",
            MarkStuckInput(progress.plan.receipt_id, reason, detail, progress.failure_code),
            MarkStuckResult,
        )
        progress.stuck_reason = reason
        self.stuck_changed = True

    async def _record(
        self,
        receipt_id: str,
        status: str,
        reference: str | None,
        reason: str | None,
        call: CreditResult | None = None,
    ) -> None:
        """Record a provider's answer, unless the credit `call` that brought it recorded it
        already (revision `LEAN`: `CreditInput.record`). Which one happened is in the call's
        result, so a replay takes the same branch."""
        if call is not None and call.recorded is not None:
            self._apply(self.state.receipts[receipt_id], call.recorded)
            return
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
        if recorded.state in FINAL_RECEIPT_STATES:
            progress.phase = Phase.FINAL
            if progress.stuck_reason is not None:
                progress.stuck_reason = None
                self.stuck_changed = True
        grant = self.state.grants[progress.plan.grant_id]
        if recorded.grant_state is not None:
            grant.state = recorded.grant_state
        elif recorded.state == ReceiptState.CREDITED.value:  # histories before grant_state
            grant.state = GrantState.CREDITED.value
        elif recorded.state == ReceiptState.REJECTED.value:
            grant.state = GrantState.UNRECEIVED.value


def _credit_in_progress() -> Exception:
    return refusal(
        "credit_in_progress",
        "a credit call is under way; wait until it ends or its retries are exhausted",
    )
