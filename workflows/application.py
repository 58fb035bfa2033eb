"""One resident's application to one measure, from eligibility to the last credited point.

The workflow is started with its `apply` update (update-with-start), so the resident learns the
decision in the same round trip. It then waits for receipt requests, credits each receipt on the
provider's own task queue (`workflows/receipts.py`), and ends once every grant is credited,
expired or forfeited. The receipt deadline is a durable timer.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.types import (
        ApplicationDecision,
        ClaimReceiptsInput,
        ClaimReceiptsResult,
        DecideApplicationInput,
        ExpireGrantsInput,
        ExpireGrantsResult,
        ForfeitGrantsInput,
        ForfeitGrantsResult,
        LoadApplicationInput,
        LoadOpenReceiptsInput,
        OpenReceiptsResult,
        ReceiptPlan,
        RecordAttendanceInput,
    )
    from domain.attendance import ReportOutcome
    from domain.points import TERMINAL_GRANT_STATES, GrantState
    from domain.receipt_machine import Phase
    from domain.receipts import ReceiptState
    from domain.reviews import ReviewResult
    from workflows import revisions
    from workflows.messages import (
        Acknowledgement,
        ApplicationInput,
        ApplicationState,
        ApplicationStatus,
        ApplyRequest,
        AttendanceReportRequest,
        ClaimedReceipts,
        ReceiptProgress,
        ReceiptRequest,
        ReceiptTicket,
        ResumeOutcome,
        ResumeRequest,
        ReviewDecisionRequest,
        SupportAction,
        SupportOutcome,
    )
    from workflows.receipts import ReceiptCarrier
    from workflows.reviews import ReviewDesk
    from workflows.search import SearchPublisher
    from workflows.steps import db_step, db_step_or_refusal, refusal, refusal_code

APPLY_WAIT = timedelta(hours=1)
# Applications granted in bulk load their decision in the claim's step, not a step before it.
CLAIM_LOADS_APPLICATION = "claim-loads-application"
# Applies that arrive together are all validated before any runs: only the first decides.
APPLY_ONCE = "apply-once"
# Receipt requests take turns: one validated in the same activation as an earlier one for the
# same grants and destination is answered with that one's ticket, without a claim of its own
# (issue 17 item 3: its claim could find the receipt already crediting and refuse).
REQUEST_ONCE = "receipt-request-once"
_FINAL_GRANTS = {s.value for s in TERMINAL_GRANT_STATES}


@workflow.defn(name="Application")
class ApplicationWorkflow:
    @workflow.init
    def __init__(self, start: ApplicationInput) -> None:
        # Built here, not in run(): the `apply` update of update-with-start runs before run().
        self.state = start.carried or ApplicationState(input=start.key())
        self.revision = start.revision  # read by `workflows.revisions`
        self.receipts = ReceiptCarrier(self.state)
        self.reviews = ReviewDesk(self.state)
        self.search = SearchPublisher(start.revision)
        self.apply_taken = False  # an apply's handler has started; it decides the application
        self.requesting = asyncio.Lock()  # receipt requests, one at a time (REQUEST_ONCE)
        # The tickets of this run's receipt requests, by destination and grants (REQUEST_ONCE).
        self.tickets: dict[tuple[str, tuple[str, ...]], ReceiptTicket] = {}

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
            self.receipts.reap()
            self.reviews.reap()
            self.receipts.start_pending()
            self.reviews.watch_pending()
            self._publish()
            if state.revoked and not state.forfeited:
                await self._forfeit()
            if state.deadline_passed and self._has(GrantState.UNRECEIVED):
                await self._expire_unreceived()
            if self._finished():
                break
            if self._history_is_long():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._history_is_long():  # a carrier took its receipt meanwhile
                    continue
                state.runs += 1
                key = state.input
                workflow.continue_as_new(
                    ApplicationInput(
                        key.measure_id,
                        key.mykey_id,
                        key.application_id,
                        key.existing,
                        key.history_limit,
                        revisions.CURRENT,  # a new history: this code's revision
                        carried=state,
                    )
                )
            remaining = (deadline - workflow.now()).total_seconds()
            if not state.deadline_passed and remaining <= 0:
                state.deadline_passed = True
                continue
            armed = not state.deadline_passed and self._deadline_matters()
            await self._wait(
                functools.partial(self._woken, armed),
                timedelta(seconds=remaining) if armed else None,
            )
        self._publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    def _finished(self) -> bool:
        """Every grant final, nothing in flight, nothing left to decide; an event registration
        stays open for reports until the receipt deadline."""
        state = self.state
        if not self._all_grants_final() or self.receipts.busy:
            return False
        if state.revoked:
            return True
        if self.reviews.pending():
            return False
        waiting_for_reports = (
            state.decision is not None
            and state.decision.kind == "event"
            and state.decision.status == "registered"
        )
        return not waiting_for_reports or state.deadline_passed

    def _woken(self, armed: bool) -> bool:
        """Something for the loop to do (`armed`: the deadline's timer runs this wait)."""
        state = self.state
        return (
            self.receipts.has_work()
            or self.reviews.has_work()
            or self._history_is_long()
            or (state.revoked and not state.forfeited)
            or (state.deadline_passed and self._has(GrantState.UNRECEIVED))
            or (not armed and not state.deadline_passed and self._deadline_matters())
        )

    def _deadline_matters(self) -> bool:
        """Whether the receipt deadline's timer has anything to do: a grant waiting for a
        receipt, reports still to come, a review still open. While every grant is with a
        provider a run of revision `LEAN` arms no timer (a timer started and cancelled per
        receipt, two events and a timer task each); a grant back to unreceived wakes the loop,
        which then arms it (or expires the grant, once past the deadline)."""
        if not revisions.lean():
            return True
        state = self.state
        waiting_for_reports = (
            state.decision is not None
            and state.decision.kind == "event"
            and state.decision.status == "registered"
        )
        return (
            waiting_for_reports or bool(self.reviews.pending()) or self._has(GrantState.UNRECEIVED)
        )

    def _history_is_long(self) -> bool:
        """Long runs continue as new: event registrations, and receipts polled for months; once
        no receipt is in a call (its carrier waits for an answer, a timer or support)."""
        info = workflow.info()
        long = (
            info.get_current_history_length() >= self.state.input.history_limit
            or info.is_continue_as_new_suggested()
        )
        return long and (not self.receipts.busy or self.receipts.parked())

    def _publish(self) -> None:
        self.receipts.stuck_changed = False
        self.search.publish(self.state, label=self.status().status, stuck=self.receipts.any_stuck())

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
        if self.apply_taken and revisions.patched(APPLY_ONCE):
            # Accepted in the same activation as the first apply, before it ran: refused here,
            # without touching the application (the first one decides it).
            raise refusal("already_applied", "one application per resident and measure")
        self.apply_taken = True
        try:
            decision = await db_step_or_refusal(
                "decide_application",
                DecideApplicationInput(
                    measure_id=state.input.measure_id,
                    mykey_id=state.input.mykey_id,
                    application_id=state.input.application_id,
                    workflow_id=workflow.info().workflow_id,
                    fixed_registration_id=request.fixed_registration_id,
                ),
                ApplicationDecision,
            )
        except ApplicationError as refused:
            state.refusal_code = refusal_code(refused)
            raise
        state.decision = decision
        state.grants = {g.grant_id: g for g in decision.grants}
        if decision.review is not None:
            self.reviews.add(decision.review)
        return decision

    @apply.validator
    def _validate_apply(self, request: ApplyRequest) -> None:
        state = self.state
        if state.revoked:
            raise refusal("mykey_revoked", "this MyKey ID has been revoked", status=403)
        if self.apply_taken or state.decision is not None or state.refusal_code is not None:
            raise refusal("already_applied", "one application per resident and measure")

    # ----- receipts ------------------------------------------------------------------------

    @workflow.update
    async def request_receipt(self, request: ReceiptRequest) -> ReceiptTicket:
        if not revisions.patched(REQUEST_ONCE):
            return await self._request_receipt(request)
        key = (request.registration_id, tuple(sorted(request.grant_ids)))
        async with self.requesting:
            ticket = self.tickets.get(key)
            # The earlier ticket answers only while its grants are still with it: after a return
            # they are unreceived again, and a new request is a new claim.
            if ticket is None or self._has_unreceived(request.grant_ids):
                ticket = self.tickets[key] = await self._request_receipt(request)
            return ticket

    async def _request_receipt(self, request: ReceiptRequest) -> ReceiptTicket:
        state = self.state
        load = state.decision is None and state.input.existing
        if load and not revisions.patched(CLAIM_LOADS_APPLICATION):
            decision = await db_step_or_refusal(
                "load_application",
                LoadApplicationInput(state.input.application_id),
                ApplicationDecision,
            )
            state.decision = decision
            state.grants = {g.grant_id: g for g in decision.grants}
            load = False
        claimed = await db_step_or_refusal(
            "claim_receipts",
            ClaimReceiptsInput(
                mykey_id=state.input.mykey_id,
                grant_ids=list(request.grant_ids),
                registration_id=request.registration_id,
                workflow_id=workflow.info().workflow_id,
                queue_batch=True,
                load_application_id=state.input.application_id if load else None,
            ),
            ClaimReceiptsResult,
        )
        if claimed.decision is not None:  # loaded in the claim's own step
            state.decision = claimed.decision
            state.grants = {g.grant_id: g for g in claimed.decision.grants}
        self._carry_claimed(claimed.receipts)
        return ReceiptTicket(receipts=claimed.receipts)

    def _carry_claimed(self, plans: list[ReceiptPlan]) -> None:
        state = self.state
        for plan in plans:
            if plan.receipt_id in state.receipts and self.receipts.patched():
                continue  # the same claim again (a twin request, a repeated signal): one carrier
            # A receipt queued for a batch file at its claim is already with its provider.
            state.receipts[plan.receipt_id] = ReceiptProgress(
                plan=plan,
                state=(ReceiptState.ACCEPTED if plan.queued else ReceiptState.REQUESTED).value,
                phase=(Phase.AWAITING if plan.queued else Phase.READY).value,
            )
            state.grants[plan.grant_id].state = (
                GrantState.CREDITING if plan.queued else GrantState.RECEIPT_REQUESTED
            ).value
            state.receipts_to_start.append(plan.receipt_id)

    @workflow.signal
    def receipts_claimed(self, claimed: ClaimedReceipts) -> None:
        """Receipts the API claimed in the request's transaction (`services/receipts.py`): the
        database decided, so nothing is refused here; each is carried from its phase. A run
        started by this signal takes the application's decision from it."""
        state = self.state
        if claimed.decision is not None:
            if state.decision is None:
                state.decision = claimed.decision
            for grant in claimed.decision.grants:  # grants this run has not seen yet
                state.grants.setdefault(grant.grant_id, grant)
        self._carry_claimed(claimed.receipts)

    @request_receipt.validator
    def _validate_receipt(self, request: ReceiptRequest) -> None:
        state = self.state
        if state.decision is None and not state.input.existing:
            raise refusal("not_found", "this application has no grants", status=404)
        if state.revoked:
            raise refusal("mykey_revoked", "this MyKey ID has been revoked", status=403)
        if state.deadline_passed:
            raise refusal("receipt_deadline_passed", "the measure's receipt deadline has passed")
        if state.decision is None:
            return  # granted in bulk: the handler loads the grants, the claim checks them
        for grant_id in request.grant_ids:
            grant = state.grants.get(grant_id)
            if grant is None:
                raise refusal("not_found", f"no such grant: {grant_id}", status=404)
            if grant.state != GrantState.UNRECEIVED.value:
                raise refusal("grant_not_unreceived", f"grant {grant_id} is {grant.state}")

    @workflow.update
    async def resume_receipts(self, request: ResumeRequest) -> ResumeOutcome:
        """A run started after the application's workflow ended takes up the receipts still
        waiting for a provider, and the application's decision if it has none yet."""
        state = self.state
        loaded = await db_step_or_refusal(
            "load_open_receipts",
            LoadOpenReceiptsInput(state.input.application_id),
            OpenReceiptsResult,
        )
        if state.decision is None:
            state.decision = loaded.decision
            state.grants = {g.grant_id: g for g in loaded.decision.grants}
        return ResumeOutcome(self.receipts.take_up(loaded.receipts))

    @workflow.signal
    def acknowledge(self, ack: Acknowledgement) -> None:
        """A provider's late answer; ignored once the receipt has its final state."""
        self.receipts.acknowledge(ack)

    # ----- attendance and review ------------------------------------------------------------

    @workflow.update
    async def report_attendance(self, report: AttendanceReportRequest) -> ReportOutcome:
        state = self.state
        outcome = await db_step_or_refusal(
            "record_attendance",
            RecordAttendanceInput(state.input.application_id, report.event_id, report.reported_at),
            ReportOutcome,
        )
        state.reported_events.append(report.event_id)
        if outcome.grant is not None:
            state.grants[outcome.grant.grant_id] = outcome.grant
        if outcome.review is not None:
            self.reviews.add(outcome.review)
        return outcome

    @report_attendance.validator
    def _validate_report(self, report: AttendanceReportRequest) -> None:
        state = self.state
        if state.revoked:
            raise refusal("mykey_revoked", "this MyKey ID has been revoked", status=403)
        if state.decision is None or state.decision.status != "registered":
            raise refusal("not_registered", "register for this measure before reporting")
        if report.event_id in state.reported_events:
            raise refusal("already_reported", "this event was already reported")
        if state.deadline_passed:
            raise refusal("report_window_closed", "the measure's receipt deadline has passed")

    @workflow.update
    async def decide_review(self, request: ReviewDecisionRequest) -> ReviewResult:
        """Municipality staff decide a late report or an application; repeats are harmless."""
        result = await self.reviews.decide(request)
        self._publish()
        return result

    @decide_review.validator
    def _validate_decision(self, request: ReviewDecisionRequest) -> None:
        if self.state.revoked:
            raise refusal("mykey_revoked", "this MyKey ID has been revoked", status=403)
        self.reviews.validate(request)

    @workflow.signal
    def revoke(self, reason: str) -> None:
        """The MyKey ID was revoked: forfeit every point not yet with a provider, then end."""
        self.state.revoked = True

    @workflow.update
    async def support_action(self, action: SupportAction) -> SupportOutcome:
        """Support staff act on one receipt: retry now, ask the provider, return the points."""
        outcome = await self.receipts.support(action)
        self._publish()
        return outcome

    @support_action.validator
    def _validate_support(self, action: SupportAction) -> None:
        self.receipts.validate_support(action)

    async def _forfeit(self) -> None:
        state = self.state
        result = await db_step(
            "forfeit_grants",
            ForfeitGrantsInput(
                application_id=state.input.application_id, mykey_id=state.input.mykey_id
            ),
            ForfeitGrantsResult,
        )
        for grant_id in result.forfeited_grant_ids:
            state.grants[grant_id].state = GrantState.FORFEITED.value
        for plan in state.reviews.values():  # closed by the same step
            if plan.status == "pending":
                plan.status = "rejected"
        state.forfeited = True

    async def _expire_unreceived(self) -> None:
        state = self.state
        result = await db_step(
            "expire_grants",
            ExpireGrantsInput(application_id=state.input.application_id),
            ExpireGrantsResult,
        )
        for grant_id in result.expired_grant_ids:
            state.grants[grant_id].state = GrantState.EXPIRED.value
        for grant in state.grants.values():  # already moved by someone else
            if grant.state == GrantState.UNRECEIVED.value:
                grant.state = GrantState.EXPIRED.value

    # ----- reading -------------------------------------------------------------------------

    def _has_unreceived(self, grant_ids: list[str]) -> bool:
        grants = self.state.grants
        return any(
            g not in grants or grants[g].state == GrantState.UNRECEIVED.value for g in grant_ids
        )

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
        elif self._all_grants_final() and not self.receipts.busy:
            label = "finished"
        else:
            label = state.decision.status
        return ApplicationStatus(
            status=label,
            refusal_code=state.refusal_code,
            grants=list(state.grants.values()),
            receipts=list(state.receipts.values()),
        )
