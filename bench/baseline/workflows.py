"""The baseline's workflows, written as the Temporal samples write them: a workflow per entity,
`execute_activity` for every step with a start-to-close timeout and the default retry policy,
state in plain attributes, updates and signals that set it, the main loop waiting on conditions.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.batches import DispatchInput, DispatchResult
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
        LoadApplicationInput,
        ReceiptPlan,
        RecordOutcomeInput,
        RecordOutcomeResult,
    )
    from adapters.providers.contract import PROVIDER_PERMANENT
    from bench.baseline.messages import (
        BaselineApplicationInput,
        TargetOfMeasure,
        TargetPage,
        TargetPageInput,
    )
    from workflows.measure import MeasureInput, MeasureProgress
    from workflows.messages import (
        Acknowledgement,
        ApplyRequest,
        ClaimedReceipts,
        ReceiptRequest,
        ReceiptTicket,
    )

STEP_TIMEOUT = timedelta(seconds=30)
CREDIT_TIMEOUT = timedelta(seconds=60)
CREDIT_RETRY = RetryPolicy(non_retryable_error_types=[PROVIDER_PERMANENT])
FINAL_GRANTS = {"credited", "expired", "forfeited"}
PAGE_SIZE = 200
PAGES_PER_RUN = 5  # the server refuses more than 2,000 pending children per run


def _as_refusal(error: ActivityError) -> Exception:
    """A refused rule from an activity becomes the update's failure, as the API expects it."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == RULE_VIOLATION:
        return ApplicationError(
            cause.message, *cause.details, type=RULE_VIOLATION, non_retryable=True
        )
    return error


@workflow.defn(name="Application")
class BaselineApplicationWorkflow:
    @workflow.init
    def __init__(self, start: BaselineApplicationInput) -> None:
        self.start = start
        self.decision: ApplicationDecision | None = None
        self.refused = False
        self.grants: dict[str, str] = {}
        self.to_credit: list[ReceiptPlan] = []
        self.acks: dict[str, Acknowledgement] = {}

    @workflow.run
    async def run(self, start: BaselineApplicationInput) -> str:
        if start.auto_grant:
            try:
                self._take(await self._decide(None))
            except ActivityError:
                return "refused"
        try:
            await workflow.wait_condition(
                lambda: self.decision is not None or self.refused, timeout=timedelta(hours=1)
            )
        except TimeoutError:
            return "no application"
        if self.decision is None:
            return "refused"
        while not all(state in FINAL_GRANTS for state in self.grants.values()):
            remaining = self.decision.receipt_deadline - workflow.now()
            try:
                await workflow.wait_condition(
                    lambda: bool(self.to_credit), timeout=max(remaining, timedelta(seconds=1))
                )
            except TimeoutError:
                await workflow.execute_activity(
                    "baseline_expire",
                    ExpireGrantsInput(start.application_id),
                    result_type=ExpireGrantsResult,
                    start_to_close_timeout=STEP_TIMEOUT,
                )
                break
            await self._carry(self.to_credit.pop(0))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return "finished"

    def _take(self, decision: ApplicationDecision) -> None:
        self.decision = decision
        self.grants = {g.grant_id: g.state for g in decision.grants}

    async def _decide(self, fixed_registration_id: str | None) -> ApplicationDecision:
        start = self.start
        decision: ApplicationDecision = await workflow.execute_activity(
            "baseline_decide",
            DecideApplicationInput(
                start.measure_id,
                start.mykey_id,
                start.application_id,
                workflow.info().workflow_id,
                fixed_registration_id,
            ),
            result_type=ApplicationDecision,
            start_to_close_timeout=STEP_TIMEOUT,
        )
        return decision

    @workflow.update
    async def apply(self, request: ApplyRequest) -> ApplicationDecision:
        try:
            decision = await self._decide(request.fixed_registration_id)
        except ActivityError as error:
            self.refused = True
            raise _as_refusal(error) from error
        self._take(decision)
        return decision

    @apply.validator
    def _validate_apply(self, request: ApplyRequest) -> None:
        if self.decision is not None or self.refused:
            raise ApplicationError(
                "one application per resident and measure",
                {"code": "already_applied", "status": 409, "extra": {}},
                type=RULE_VIOLATION,
            )

    @workflow.update
    async def request_receipt(self, request: ReceiptRequest) -> ReceiptTicket:
        start = self.start
        try:
            if self.decision is None and start.existing:
                self._take(
                    await workflow.execute_activity(
                        "baseline_load",
                        LoadApplicationInput(start.application_id),
                        result_type=ApplicationDecision,
                        start_to_close_timeout=STEP_TIMEOUT,
                    )
                )
            claimed: ClaimReceiptsResult = await workflow.execute_activity(
                "baseline_claim",
                ClaimReceiptsInput(
                    start.mykey_id,
                    list(request.grant_ids),
                    request.registration_id,
                    workflow.info().workflow_id,
                ),
                result_type=ClaimReceiptsResult,
                start_to_close_timeout=STEP_TIMEOUT,
            )
        except ActivityError as error:
            raise _as_refusal(error) from error
        for plan in claimed.receipts:
            self.grants[plan.grant_id] = "receipt_requested"
            self.to_credit.append(plan)
        return ReceiptTicket(receipts=claimed.receipts)

    @workflow.signal
    def receipts_claimed(self, claimed: ClaimedReceipts) -> None:
        """Receipts the API claimed in the request (the API is the hub's, shared by every
        variant): taken as they come, a run started by this signal takes the decision too."""
        if self.decision is None and claimed.decision is not None:
            self._take(claimed.decision)
        for plan in claimed.receipts:
            if all(p.receipt_id != plan.receipt_id for p in self.to_credit):
                self.grants[plan.grant_id] = "crediting" if plan.queued else "receipt_requested"
                self.to_credit.append(plan)

    @workflow.signal
    def acknowledge(self, ack: Acknowledgement) -> None:
        self.acks.setdefault(ack.receipt_id, ack)

    async def _carry(self, plan: ReceiptPlan) -> None:
        if plan.queued:  # put on its batch file by the claim: only the answer to wait for
            await workflow.wait_condition(lambda: plan.receipt_id in self.acks)
            ack = self.acks[plan.receipt_id]
            await self._record(plan, ack.status, ack.provider_reference, ack.reason)
            return
        result: CreditResult = await workflow.execute_activity(
            "baseline_credit",
            CreditInput(plan.receipt_id, plan.provider_id),
            result_type=CreditResult,
            start_to_close_timeout=CREDIT_TIMEOUT,
            retry_policy=CREDIT_RETRY,
        )
        if result.status == "accepted":
            await self._record(plan, "accepted", None, None)
            await workflow.wait_condition(lambda: plan.receipt_id in self.acks)
            ack = self.acks[plan.receipt_id]
            await self._record(plan, ack.status, ack.provider_reference, ack.reason)
        elif result.status in ("credited", "rejected"):
            await self._record(plan, result.status, result.provider_reference, result.reason)
        else:  # already final in the database: read where its grant stands
            current = await workflow.execute_activity(
                "baseline_load",
                LoadApplicationInput(self.start.application_id),
                result_type=ApplicationDecision,
                start_to_close_timeout=STEP_TIMEOUT,
            )
            self.grants = {g.grant_id: g.state for g in current.grants}

    async def _record(
        self, plan: ReceiptPlan, status: str, reference: str | None, reason: str | None
    ) -> None:
        recorded: RecordOutcomeResult = await workflow.execute_activity(
            "baseline_record",
            RecordOutcomeInput(plan.receipt_id, status, reference, reason),
            result_type=RecordOutcomeResult,
            start_to_close_timeout=STEP_TIMEOUT,
        )
        if recorded.grant_state is not None:
            self.grants[plan.grant_id] = recorded.grant_state


@workflow.defn(name="Measure")
class BaselineMeasureWorkflow:
    """Publishing starts it; for an auto-grant measure it starts one child `Application`
    workflow per target, a page at a time, and continues as new every few pages."""

    @workflow.init
    def __init__(self, start: MeasureInput) -> None:
        self.progress = start.progress or MeasureProgress(grant_requested=start.auto_grant)
        self.pages = 0

    @workflow.run
    async def run(self, start: MeasureInput) -> int:
        progress = self.progress
        while True:
            if progress.grant_requested and start.auto_grant:
                await self._grant_pass(start)
            remaining = start.receipt_deadline - workflow.now()
            if remaining <= timedelta(0):
                return progress.granted
            try:
                await workflow.wait_condition(lambda: progress.grant_requested, timeout=remaining)
            except TimeoutError:
                return progress.granted

    async def _grant_pass(self, start: MeasureInput) -> None:
        progress = self.progress
        while True:
            page: TargetPage = await workflow.execute_activity(
                "baseline_target_page",
                TargetPageInput(start.measure_id, progress.cursor, PAGE_SIZE),
                result_type=TargetPage,
                start_to_close_timeout=STEP_TIMEOUT,
            )
            await asyncio.gather(*(self._start_child(start, t) for t in page.targets))
            progress.granted += len(page.targets)
            progress.cursor = page.cursor
            self.pages += 1
            if len(page.targets) < PAGE_SIZE:
                progress.grant_requested = False
                progress.cursor = ""
                return
            if self.pages >= PAGES_PER_RUN:
                workflow.continue_as_new(
                    MeasureInput(
                        start.measure_id,
                        start.auto_grant,
                        start.receipt_deadline,
                        progress=progress,
                    )
                )

    async def _start_child(self, start: MeasureInput, target: TargetOfMeasure) -> None:
        # A target who applied already has this workflow: nothing to grant here.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await workflow.start_child_workflow(
                BaselineApplicationWorkflow.run,
                BaselineApplicationInput(
                    start.measure_id, target.mykey_id, target.application_id, auto_grant=True
                ),
                id=target.workflow_id,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            )

    @workflow.signal
    def targets_added(self) -> None:
        self.progress.grant_requested = True


@workflow.defn(name="BaselineBatchDispatcher")
class BaselineBatchDispatcherWorkflow:
    """A polling loop per batch provider: one round of file work, then sleep."""

    @workflow.run
    async def run(self, provider_id: str) -> None:
        for _ in range(200):
            result: DispatchResult = await workflow.execute_activity(
                "baseline_dispatch",
                DispatchInput(provider_id),
                result_type=DispatchResult,
                start_to_close_timeout=timedelta(minutes=15),
            )
            await workflow.sleep(timedelta(seconds=max(result.next_check_s, 0.05)))
        workflow.continue_as_new(provider_id)
