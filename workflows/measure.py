"""One workflow per measure (`measure-<measure_id>`), started when the measure is published.

It does the measure's bulk work, which must not become one workflow per resident:
- an auto-grant measure (一律付与) grants everyone on its target list, a batch per local
  activity; targets uploaded later arrive as the `targets_added` signal and are granted the same
  way;
- at the receipt deadline (a durable timer) every grant of the measure still `unreceived`
  expires, in batches, alongside whatever the application workflows expire themselves.
History stays short: the state lives in one dataclass and is carried over by continue-as-new.

Annotations are evaluated (no `from __future__ import annotations`): the payload converter
resolves these dataclasses inside the workflow sandbox.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.measures import MeasureBatchInput, MeasureBatchResult
    from workflows.steps import db_step

BATCH_SIZE = 1000
BATCHES_PER_RUN = 500  # then continue-as-new, so a run's history stays small


def measure_workflow_id(measure_id: str) -> str:
    return f"measure-{measure_id}"


@dataclass
class MeasureProgress:
    """Everything the workflow knows; carried whole across continue-as-new."""

    grant_requested: bool = False
    cursor: str = ""  # where the current pass over the target list has got to
    granted: int = 0
    granted_points: int = 0
    grant_batches: int = 0
    budget_exhausted: bool = False
    deadline_passed: bool = False
    expired: int = 0
    expired_points: int = 0
    finished: bool = False


@dataclass
class MeasureInput:
    measure_id: str
    auto_grant: bool
    receipt_deadline: datetime
    batch_size: int = BATCH_SIZE
    progress: MeasureProgress | None = field(default=None)  # set by continue-as-new
    batches_per_run: int = BATCHES_PER_RUN


@workflow.defn(name="Measure")
class MeasureWorkflow:
    @workflow.init
    def __init__(self, start: MeasureInput) -> None:
        # Built here, not in run(): a signal-with-start signal is handled before run() begins.
        self.start = start
        self.progress = start.progress or MeasureProgress(grant_requested=start.auto_grant)
        self.batches_this_run = 0

    @workflow.run
    async def run(self, start: MeasureInput) -> MeasureProgress:
        progress = self.progress
        while not progress.deadline_passed:
            if progress.grant_requested:
                await self._grant_targets()
            elif self._continue_as_new_due():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carried())
            remaining = start.receipt_deadline - workflow.now()
            if remaining <= timedelta(0):
                progress.deadline_passed = True
                break
            try:
                await workflow.wait_condition(
                    lambda: progress.grant_requested or self._continue_as_new_due(),
                    timeout=remaining,
                )
            except TimeoutError:
                progress.deadline_passed = True
        await self._expire_unreceived()
        progress.finished = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return progress

    async def _grant_targets(self) -> None:
        progress = self.progress
        progress.grant_requested = False
        while self.start.auto_grant and not progress.budget_exhausted:
            if workflow.now() >= self.start.receipt_deadline:
                return
            result = await db_step(
                "grant_targets",
                MeasureBatchInput(
                    self.start.measure_id,
                    self.start.batch_size,
                    workflow.now(),
                    after=progress.cursor,
                ),
                MeasureBatchResult,
            )
            progress.cursor = result.cursor
            progress.grant_batches += 1
            self.batches_this_run += 1
            progress.granted += result.count
            progress.granted_points += result.points
            progress.budget_exhausted = result.budget_exhausted
            if not result.more:
                progress.cursor = ""  # the next pass (targets added later) starts over
                return
            if self._continue_as_new_due():
                progress.grant_requested = True  # the next run goes on where this one stopped
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carried())

    async def _expire_unreceived(self) -> None:
        progress = self.progress
        while True:
            result = await db_step(
                "expire_measure_grants",
                MeasureBatchInput(self.start.measure_id, self.start.batch_size, workflow.now()),
                MeasureBatchResult,
            )
            progress.expired += result.count
            progress.expired_points += result.points
            if not result.more:
                return

    def _continue_as_new_due(self) -> bool:
        return (
            self.batches_this_run >= self.start.batches_per_run
            or workflow.info().is_continue_as_new_suggested()
        )

    def _carried(self) -> MeasureInput:
        return MeasureInput(
            measure_id=self.start.measure_id,
            auto_grant=self.start.auto_grant,
            receipt_deadline=self.start.receipt_deadline,
            batch_size=self.start.batch_size,
            progress=self.progress,
            batches_per_run=self.start.batches_per_run,
        )

    @workflow.signal
    def targets_added(self) -> None:
        """New MyKey IDs joined the target list: grant them (auto-grant measures only)."""
        if self.start.auto_grant and not self.progress.deadline_passed:
            self.progress.grant_requested = True

    @workflow.query
    def status(self) -> MeasureProgress:
        return self.progress
