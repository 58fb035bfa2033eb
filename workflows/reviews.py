"""Human review inside the application workflow: late attendance reports and applications that
need a decision. Each pending review has durable timers: a reminder for staff, then the
measure's default decision at its deadline. Decisions arrive as updates and are idempotent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.types import (
        ApplicationDecision,
        DecideReviewInput,
        LoadApplicationInput,
        RemindReviewInput,
        RemindReviewResult,
    )
    from domain.reviews import DECIDED, Decision, ReviewPlan, ReviewResult, ReviewStatus
    from workflows import revisions
    from workflows.messages import ApplicationState, ReviewDecisionRequest
    from workflows.steps import db_step, db_step_or_refusal, refusal, refusal_code

POLICY_ACTOR = "policy:review-deadline"
# The default decision that staff beat reads the application's grants back after the review.
REVIEW_READ_BACK = "review-read-back"


class ReviewDesk:
    def __init__(self, state: ApplicationState) -> None:
        self.state = state
        self._watchers: dict[str, asyncio.Task[None]] = {}

    def pending(self) -> bool:
        return any(p.status == ReviewStatus.PENDING.value for p in self.state.reviews.values())

    def has_work(self) -> bool:
        return any(t.done() for t in self._watchers.values()) or any(
            review_id not in self._watchers and plan.status == ReviewStatus.PENDING.value
            for review_id, plan in self.state.reviews.items()
        )

    def add(self, plan: ReviewPlan) -> None:
        self.state.reviews.setdefault(plan.review_id, plan)

    def watch_pending(self) -> None:
        """A timer pair per pending review (also after continue-as-new, from the plans)."""
        for review_id, plan in self.state.reviews.items():
            if plan.status == ReviewStatus.PENDING.value and review_id not in self._watchers:
                self._watchers[review_id] = asyncio.create_task(self._watch(review_id))

    def reap(self) -> None:
        """Forget finished watchers; one that broke fails this workflow task (retried by the
        server), never the workflow."""
        for review_id, task in list(self._watchers.items()):
            if task.done():
                del self._watchers[review_id]
                error = task.exception()
                if error is not None:
                    raise ReviewWatchBroken(f"the watcher of {review_id} broke: {error}") from error

    def validate(self, request: ReviewDecisionRequest) -> None:
        plan = self.state.reviews.get(request.review_id)
        if plan is None:
            raise refusal("not_found", "no such review", status=404)
        if request.decision not in (Decision.APPROVE.value, Decision.REJECT.value):
            raise refusal("validation_error", "decision is approve or reject", status=422)
        if plan.status != ReviewStatus.PENDING.value and (
            DECIDED[Decision(request.decision)].value != plan.status
        ):
            raise refusal("review_already_decided", f"this review was already {plan.status}")

    async def decide(self, request: ReviewDecisionRequest) -> ReviewResult:
        result = await db_step_or_refusal(
            "decide_review",
            DecideReviewInput(request.review_id, request.decision, request.reason, request.actor),
            ReviewResult,
        )
        self._apply(result)
        return result

    def _apply(self, result: ReviewResult) -> None:
        self.state.reviews[result.review_id].status = result.status
        if result.grant is not None:
            self.state.grants.setdefault(result.grant.grant_id, result.grant)
        if self.state.decision is not None and result.application_status:
            self.state.decision.status = result.application_status

    async def _watch(self, review_id: str) -> None:
        plan = self.state.reviews[review_id]

        def decided() -> bool:
            return plan.status != ReviewStatus.PENDING.value

        if not await _until(decided, plan.remind_at):
            await db_step("remind_review", RemindReviewInput(review_id), RemindReviewResult)
        if not await _until(decided, plan.decide_by):
            decision = ReviewDecisionRequest(
                review_id, plan.default_decision, "review deadline passed", POLICY_ACTOR
            )
            await self._default(plan.default_decision, decision, decided)
            await workflow.wait_condition(decided)  # refused both ways: staff decide

    async def _default(
        self, default: str, decision: ReviewDecisionRequest, decided: Callable[[], bool]
    ) -> None:
        """The measure's default decision at the deadline. Staff deciding at the same moment
        win the race (`review_already_decided`); an approval the budget no longer allows
        becomes a rejection; no refusal ends the workflow."""
        try:
            await self.decide(decision)
            return
        except ApplicationError as error:
            if decided():
                return
            if refusal_code(error) == "review_already_decided":
                await self._take_other(decision)
                return
            if default != Decision.APPROVE.value:
                workflow.logger.warning("default decision refused (%s); staff decide", error)
                return
            workflow.logger.warning("default approval refused (%s); rejecting", error)
            decision.decision, decision.reason = Decision.REJECT.value, f"{error}"
        try:
            await self.decide(decision)
        except ApplicationError as error:
            workflow.logger.warning("default rejection refused (%s); staff decide", error)

    async def _take_other(self, decision: ReviewDecisionRequest) -> None:
        """Staff decided the other way first: the other decision, repeated, changes nothing and
        tells this workflow the review's status."""
        other = Decision.REJECT if decision.decision == Decision.APPROVE.value else Decision.APPROVE
        repeat = ReviewDecisionRequest(
            decision.review_id, other.value, "decided by staff before the deadline", POLICY_ACTOR
        )
        try:
            await self.decide(repeat)
            if not revisions.patched(REVIEW_READ_BACK):
                return
            # The repeat carries no grant: the application's grants are read back as well.
            loaded = await db_step_or_refusal(
                "load_application",
                LoadApplicationInput(self.state.input.application_id),
                ApplicationDecision,
            )
        except ApplicationError as error:
            workflow.logger.warning("review %s not read back (%s)", decision.review_id, error)
            return
        for grant in loaded.grants:
            self.state.grants.setdefault(grant.grant_id, grant)
        if self.state.decision is not None:
            self.state.decision.status = loaded.status


class ReviewWatchBroken(RuntimeError):
    """Not an ApplicationError: raised out of the workflow it fails the task, not the run."""


async def _until(condition: Callable[[], bool], moment: datetime) -> bool:
    """Wait for `condition` until the absolute `moment`; True when it came first."""
    remaining = moment - workflow.now()
    if remaining.total_seconds() <= 0:
        return condition()
    try:
        await workflow.wait_condition(condition, timeout=remaining)
    except TimeoutError:
        return False
    return True
