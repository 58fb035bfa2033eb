"""The durable orchestration (`HUB_ORCHESTRATION=temporal`, the default and the only one
production accepts): every lifecycle step an update-with-start on the application's workflow
(`workflows/application.py`), but receipts claimed in the request, which are handed on with
signal-with-start; each wait on it with a deadline (`HUB_WORKFLOW_WAIT_S`). The
choice between orchestrations is `services/orchestration.py`'s."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from temporalio.client import (
    RPCTimeoutOrCancelledError,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from domain.applications import ApplicationDecision
from domain.errors import RuleViolation
from services.orchestration import NewApplication, WorkflowLabels
from services.workflow_errors import violation_from
from storage.models import Application, Measure
from workflows import revisions, search
from workflows.application import ApplicationWorkflow
from workflows.messages import ApplicationInput, ApplyRequest, ClaimedReceipts

if TYPE_CHECKING:
    from services.context import HubContext

T = TypeVar("T")
RECEIPTS_CLAIMED = "receipts_claimed"  # ApplicationWorkflow.receipts_claimed
log = logging.getLogger(__name__)


# ----- waiting on Temporal with a deadline ------------------------------------------------------


def workflow_unavailable(ctx: HubContext) -> RuleViolation:
    """The answer when a workflow did not answer within `HUB_WORKFLOW_WAIT_S`."""
    return RuleViolation(
        "temporal_unavailable",
        "the workflow service did not answer in time; the request may have been taken, "
        "so look before sending it again",
        status=503,
        retry_after_s=max(1, math.ceil(ctx.settings.workflow_wait_s / 2)),
    )


# Update calls the request stopped waiting for, still running (a task nobody holds is collected).
_KEPT: set[asyncio.Task[Any]] = set()


async def within_deadline(
    ctx: HubContext, call: Coroutine[Any, Any, T], cleanup: Callable[[], None] | None = None
) -> T:
    """`call`'s result, or 503 `temporal_unavailable` once the request has waited
    `HUB_WORKFLOW_WAIT_S` on it.

    The call itself goes on in the background for up to `HUB_WORKFLOW_KEEP_TRYING_S`: until an
    update is accepted into the workflow's history it is not durable, and the SDK re-sends it
    while its caller waits. A request that simply gave up would let the server drop an update
    whose database step (a receipt claim) already committed when the workflow task carrying it
    failed; kept going, the update is delivered again and its step returns the committed result.
    """
    task: asyncio.Task[T] = asyncio.ensure_future(call)
    done, _ = await asyncio.wait({task}, timeout=ctx.settings.workflow_wait_s)
    if done:
        try:
            return task.result()
        except RPCTimeoutOrCancelledError as exc:
            raise workflow_unavailable(ctx) from exc
    _KEPT.add(task)
    cancel = asyncio.get_running_loop().call_later(ctx.settings.workflow_keep_trying_s, task.cancel)

    def finished(kept: asyncio.Task[T]) -> None:
        cancel.cancel()
        _KEPT.discard(kept)
        if cleanup is not None:
            cleanup()
        if not kept.cancelled() and kept.exception() is not None:
            log.info("a workflow call answered after its request: %r", kept.exception())

    task.add_done_callback(finished)
    raise workflow_unavailable(ctx)


# ----- Temporal: the durable workflows ----------------------------------------------------------


class TemporalOrchestrator:
    """Every step through the Temporal client on `ApplicationWorkflow`: update-with-start, and
    signal-with-start for the receipts a request claimed."""

    async def apply(self, ctx: HubContext, new: NewApplication) -> ApplicationDecision:
        key = ApplicationInput(
            new.measure_id, new.mykey_id, new.application_id, revision=revisions.CURRENT
        )
        start = _starting(key, new.workflow_id, ctx.settings.task_queue)
        decision: ApplicationDecision = await _update_with_start(
            ctx, ApplicationWorkflow.apply, ApplyRequest(new.fixed_registration_id), start
        )
        return decision

    async def update_application(
        self,
        ctx: HubContext,
        application: Application,
        update: Any,
        argument: Any,
    ) -> Any:
        """Start the workflow from the database when it has none (decided in the request, or
        granted in bulk) or when it has ended; a refused rule comes back as `RuleViolation`, no
        answer within the deadline as 503 `temporal_unavailable`."""
        start = start_existing(application, ctx.settings.task_queue)
        return await _update_with_start(ctx, update, argument, start)

    async def carry_receipts(
        self,
        ctx: HubContext,
        application: Application,
        claimed: ClaimedReceipts,
        *,
        labels: WorkflowLabels,
    ) -> None:
        """Signal-with-start `receipts_claimed`: the running workflow takes the receipts, or a
        new run is started from the database with them. The claim is committed already, so a
        signal that does not go through in time is no refusal: the call goes on in the
        background (`within_deadline`), and the workers' sweep (`services/resumption.py`)
        resumes receipts whose workflow never heard of them."""

        async def signal_with_start(search: TypedSearchAttributes | None) -> None:
            await ctx.client().start_workflow(
                ApplicationWorkflow.run,
                _existing_input(application),
                id=application.workflow_id,
                task_queue=ctx.settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=search,
                start_signal=RECEIPTS_CLAIMED,
                start_signal_args=[claimed],
            )

        async def delivered() -> None:
            try:
                await signal_with_start(_labels(labels))
            except RPCError as error:
                # A namespace without the hub's search attributes (no worker has registered
                # them yet): the run publishes its own once a worker takes it.
                if error.status != RPCStatusCode.INVALID_ARGUMENT:
                    raise
                await signal_with_start(None)

        try:
            await within_deadline(ctx, delivered())
        except (RuleViolation, RPCError) as error:  # no answer in time, or the server refused
            log.warning(
                "receipts %s claimed but not yet signalled: %r",
                [p.receipt_id for p in claimed.receipts],
                error,
            )

    async def start_measure(
        self, ctx: HubContext, measure: Measure, *, targets_added: bool
    ) -> None:
        from services.measures import start_measure_workflow

        await start_measure_workflow(ctx, measure, targets_added=targets_added)


def start_existing(
    application: Application, task_queue: str
) -> WithStartWorkflowOperation[Any, Any]:
    """The start that goes with an update to an application's workflow: the running one, or a
    new run from the database when it has none (decided in the request, granted in bulk) or it
    has ended."""
    return _starting(_existing_input(application), application.workflow_id, task_queue)


def _existing_input(application: Application) -> ApplicationInput:
    """The input of a run started from the database, at this code's revision."""
    return ApplicationInput(
        application.measure_id,
        application.mykey_id,
        application.id,
        existing=True,
        revision=revisions.CURRENT,
    )


def _starting(
    start: ApplicationInput, workflow_id: str, task_queue: str
) -> WithStartWorkflowOperation[Any, Any]:
    """The application's workflow, started unless it runs; a refused application ends its
    workflow, and the resident may apply again later (so may an ended one be started again)."""
    return WithStartWorkflowOperation(
        ApplicationWorkflow.run,
        start,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )


def _labels(labels: WorkflowLabels) -> TypedSearchAttributes:
    return search.labels_at_start(
        label=labels.state,
        municipality_code=labels.municipality_code,
        provider_ids=labels.provider_ids,
    )


async def _update_with_start(
    ctx: HubContext, update: Any, argument: Any, start: WithStartWorkflowOperation[Any, Any]
) -> Any:
    """The update's answer within the deadline; a refused rule as `RuleViolation`."""

    def read_start_error() -> None:
        # A call given up at last leaves its error in the start operation's handle too, which
        # nobody reads (asyncio would log it as never retrieved).
        handle = getattr(start, "_workflow_handle", None)
        if isinstance(handle, asyncio.Future) and handle.done() and not handle.cancelled():
            handle.exception()

    try:
        return await within_deadline(
            ctx,
            ctx.client().execute_update_with_start_workflow(
                update, argument, start_workflow_operation=start
            ),
            read_start_error,
        )
    except WorkflowUpdateFailedError as error:
        violation = violation_from(error)
        if violation is None:
            raise
        raise violation from error


TEMPORAL_ORCHESTRATOR = TemporalOrchestrator()
