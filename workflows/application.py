"""One resident's application to one measure, from eligibility to the last credited point.

The workflow is started with its `apply` update (update-with-start), so the resident learns the
decision in the same round trip. It then waits for receipt requests, credits each receipt on the
provider's own task queue, and ends once every grant is credited, expired or forfeited. The
receipt deadline is a durable timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.types import (
        RULE_VIOLATION,
        ApplicationDecision,
        ClaimReceiptsInput,
        ClaimReceiptsResult,
        CreditInput,
        CreditResult,
        DecideApplicationInput,
        ExpireGrantsInput,
        ExpireGrantsResult,
        ForfeitGrantsInput,
        ForfeitGrantsResult,
        RecordOutcomeInput,
        RecordOutcomeResult,
    )
    from adapters.providers.contract import PROVIDER_PERMANENT
    from domain.points import TERMINAL_GRANT_STATES, GrantState
    from domain.providers import ProviderPolicy
    from domain.receipts import TERMINAL_RECEIPT_STATES, ReceiptState
    from workflows.messages import (
        Acknowledgement,
        ApplicationInput,
        ApplicationState,
        ApplicationStatus,
        ApplyRequest,
        ReceiptProgress,
        ReceiptRequest,
        ReceiptTicket,
    )

DB_TIMEOUT = timedelta(seconds=30)
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=[RULE_VIOLATION],
)
APPLY_WAIT = timedelta(hours=1)
CREDIT_TIMEOUT = timedelta(seconds=60)
_FINAL_GRANTS = {s.value for s in TERMINAL_GRANT_STATES}
_FINAL_RECEIPTS = {s.value for s in TERMINAL_RECEIPT_STATES}


def provider_queue(provider_id: str) -> str:
    return f"provider-{provider_id}"


def credit_retry(policy: ProviderPolicy) -> RetryPolicy:
    """The provider's own retry policy; refusals of the request itself are never retried."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=policy.retry.initial_interval_s),
        backoff_coefficient=policy.retry.backoff,
        maximum_interval=timedelta(seconds=policy.retry.max_interval_s),
        maximum_attempts=policy.retry.max_attempts,
        non_retryable_error_types=[PROVIDER_PERMANENT],
    )


def _refusal(error: ActivityError) -> ApplicationError | None:
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == RULE_VIOLATION:
        return ApplicationError(
            cause.message, *cause.details, type=RULE_VIOLATION, non_retryable=True
        )
    return None


def _refuse(code: str, message: str, status: int = 409) -> ApplicationError:
    return ApplicationError(
        message,
        {"code": code, "status": status, "extra": {}},
        type=RULE_VIOLATION,
        non_retryable=True,
    )


@workflow.defn(name="Application")
class ApplicationWorkflow:
    @workflow.init
    def __init__(self, start: ApplicationInput) -> None:
        # Built here, not in run(): the `apply` update of update-with-start runs before run().
        self.state = ApplicationState(input=start)
        self._credit_tasks: dict[str, asyncio.Task[None]] = {}

    # ----- the lifecycle -----------------------------------------------------------------

    @workflow.run
    async def run(self, start: ApplicationInput) -> ApplicationStatus:
        state = self.state
        decided = await self._wait(
            lambda: state.decision is not None or state.refusal_code is not None or state.revoked,
            APPLY_WAIT,
        )
        if not decided or state.decision is None:
            await workflow.wait_condition(workflow.all_handlers_finished)
            return self.status()
        deadline = state.decision.receipt_deadline
        while True:
            self._reap_finished_credits()
            self._start_pending_credits()
            if state.revoked and not state.forfeited:
                await self._forfeit()
            if state.deadline_passed and self._has(GrantState.UNRECEIVED):
                await self._expire_unreceived()
            if self._all_grants_final() and not self._credit_tasks:
                break
            remaining = (deadline - workflow.now()).total_seconds()
            if not state.deadline_passed and remaining <= 0:
                state.deadline_passed = True
                continue
            await self._wait(
                lambda: (
                    bool(state.receipts_to_start)
                    or self._credit_finished()
                    or (state.revoked and not state.forfeited)
                    or (state.deadline_passed and self._has(GrantState.UNRECEIVED))
                ),
                timedelta(seconds=remaining) if not state.deadline_passed else None,
            )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    @staticmethod
    async def _wait(condition: Callable[[], bool], limit: timedelta | None) -> bool:
        try:
            await workflow.wait_condition(condition, timeout=limit)
        except TimeoutError:
            return False
        return True

    # ----- apply ---------------------------------------------------------------------------

    @workflow.update
    async def apply(self, request: ApplyRequest) -> ApplicationDecision:
        state = self.state
        try:
            decision = await workflow.execute_local_activity(
                "decide_application",
                DecideApplicationInput(
                    measure_id=state.input.measure_id,
                    mykey_id=state.input.mykey_id,
                    application_id=state.input.application_id,
                    workflow_id=workflow.info().workflow_id,
                    fixed_registration_id=request.fixed_registration_id,
                ),
                result_type=ApplicationDecision,
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            )
        except ActivityError as error:
            refusal = _refusal(error)
            if refusal is None:
                raise
            state.refusal_code = str(refusal.details[0]["code"]) if refusal.details else "refused"
            raise refusal from error
        state.decision = decision
        state.grants = {g.grant_id: g for g in decision.grants}
        return decision

    @apply.validator
    def _validate_apply(self, request: ApplyRequest) -> None:
        state = self.state
        if state.revoked:
            raise _refuse("mykey_revoked", "this MyKey ID has been revoked", status=403)
        if state.decision is not None or state.refusal_code is not None:
            raise _refuse("already_applied", "one application per resident and measure")

    # ----- receipts ------------------------------------------------------------------------

    @workflow.update
    async def request_receipt(self, request: ReceiptRequest) -> ReceiptTicket:
        state = self.state
        try:
            claimed = await workflow.execute_local_activity(
                "claim_receipts",
                ClaimReceiptsInput(
                    mykey_id=state.input.mykey_id,
                    grant_ids=list(request.grant_ids),
                    registration_id=request.registration_id,
                    workflow_id=workflow.info().workflow_id,
                ),
                result_type=ClaimReceiptsResult,
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            )
        except ActivityError as error:
            refusal = _refusal(error)
            if refusal is None:
                raise
            raise refusal from error
        for plan in claimed.receipts:
            state.receipts[plan.receipt_id] = ReceiptProgress(
                plan=plan, state=ReceiptState.REQUESTED.value
            )
            state.grants[plan.grant_id].state = GrantState.RECEIPT_REQUESTED.value
            state.receipts_to_start.append(plan.receipt_id)
        return ReceiptTicket(receipts=claimed.receipts)

    @request_receipt.validator
    def _validate_receipt(self, request: ReceiptRequest) -> None:
        state = self.state
        if state.decision is None:
            raise _refuse("not_found", "this application has no grants", status=404)
        if state.revoked:
            raise _refuse("mykey_revoked", "this MyKey ID has been revoked", status=403)
        if state.deadline_passed:
            raise _refuse("receipt_deadline_passed", "the measure's receipt deadline has passed")
        for grant_id in request.grant_ids:
            grant = state.grants.get(grant_id)
            if grant is None:
                raise _refuse("not_found", f"no such grant: {grant_id}", status=404)
            if grant.state != GrantState.UNRECEIVED.value:
                raise _refuse("grant_not_unreceived", f"grant {grant_id} is {grant.state}")

    @workflow.signal
    def acknowledge(self, ack: Acknowledgement) -> None:
        """A provider's late answer; ignored once the receipt has its final state."""
        state = self.state
        progress = state.receipts.get(ack.receipt_id)
        if progress is None or progress.state in _FINAL_RECEIPTS:
            return
        state.acknowledgements.setdefault(ack.receipt_id, ack)

    @workflow.signal
    def revoke(self, reason: str) -> None:
        """The MyKey ID was revoked: forfeit every point not yet with a provider, then end."""
        self.state.revoked = True

    @workflow.signal
    def retry_receipt(self, receipt_id: str) -> None:
        """Support asks for another attempt of a receipt whose attempts were exhausted."""
        state = self.state
        progress = state.receipts.get(receipt_id)
        if progress is not None and progress.attempts_exhausted:
            state.retry_requested.append(receipt_id)

    def _start_pending_credits(self) -> None:
        state = self.state
        while state.receipts_to_start:
            receipt_id = state.receipts_to_start.pop(0)
            self._credit_tasks[receipt_id] = asyncio.create_task(self._carry_receipt(receipt_id))

    def _reap_finished_credits(self) -> None:
        """Forget finished receipt tasks; a task that failed fails this workflow task loudly."""
        for receipt_id, task in list(self._credit_tasks.items()):
            if task.done():
                del self._credit_tasks[receipt_id]
                task.result()

    def _credit_finished(self) -> bool:
        return any(task.done() for task in self._credit_tasks.values())

    async def _carry_receipt(self, receipt_id: str) -> None:
        """Credit one receipt and wait for the provider's final answer."""
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
        state = self.state
        recorded = await workflow.execute_local_activity(
            "record_credit_outcome",
            RecordOutcomeInput(
                receipt_id=receipt_id, status=status, provider_reference=reference, reason=reason
            ),
            result_type=RecordOutcomeResult,
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        progress = state.receipts[receipt_id]
        progress.state = recorded.state
        grant = state.grants[progress.plan.grant_id]
        if recorded.grant_state is not None:
            grant.state = recorded.grant_state
        elif recorded.state == ReceiptState.CREDITED.value:  # histories before grant_state
            grant.state = GrantState.CREDITED.value
        elif recorded.state == ReceiptState.REJECTED.value:
            grant.state = GrantState.UNRECEIVED.value

    async def _forfeit(self) -> None:
        state = self.state
        result = await workflow.execute_local_activity(
            "forfeit_grants",
            ForfeitGrantsInput(
                application_id=state.input.application_id, mykey_id=state.input.mykey_id
            ),
            result_type=ForfeitGrantsResult,
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        for grant_id in result.forfeited_grant_ids:
            state.grants[grant_id].state = GrantState.FORFEITED.value
        state.forfeited = True

    async def _expire_unreceived(self) -> None:
        state = self.state
        result = await workflow.execute_local_activity(
            "expire_grants",
            ExpireGrantsInput(application_id=state.input.application_id),
            result_type=ExpireGrantsResult,
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        for grant_id in result.expired_grant_ids:
            state.grants[grant_id].state = GrantState.EXPIRED.value
        for grant in state.grants.values():  # already moved by someone else
            if grant.state == GrantState.UNRECEIVED.value:
                grant.state = GrantState.EXPIRED.value

    # ----- reading -------------------------------------------------------------------------

    def _has(self, grant_state: GrantState) -> bool:
        return any(g.state == grant_state.value for g in self.state.grants.values())

    def _all_grants_final(self) -> bool:
        return all(g.state in _FINAL_GRANTS for g in self.state.grants.values())

    @workflow.query
    def status(self) -> ApplicationStatus:
        state = self.state
        if state.refusal_code is not None:
            label = "refused"
        elif state.decision is None:
            label = "waiting"
        elif self._all_grants_final() and not self._credit_tasks:
            label = "finished"
        else:
            label = state.decision.status
        return ApplicationStatus(
            status=label,
            refusal_code=state.refusal_code,
            grants=list(state.grants.values()),
            receipts=list(state.receipts.values()),
        )
