"""Applying to a measure, and every API call that waits on an application's workflow.

An application that needs no review (an `application` measure without `review_required`) is
decided in the request, in one transaction: the resident's session, eligibility, the budget
first come, first served (the measure row locked, as the workflow's step locks it) and the grant
with its ledger line and audit entry. No workflow starts for it then; its first receipt request
starts one from the database (`update_application`), and the measure's own workflow expires what
is never asked for at the receipt deadline. Once a measure's budget is gone, the refusal comes
from an unlocked read: the budget only ever grows used, so nothing waits on the lock for it.

An application that needs review, and an event measure's registration, start their workflow by
the `apply` update (update-with-start), as before. Every wait on a workflow has a deadline
(`HUB_WORKFLOW_WAIT_S`): past it the caller gets 503 `temporal_unavailable` with Retry-After,
whether the workers are down or the server is slow, never a request that hangs.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    RPCTimeoutOrCancelledError,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from activities.applications import decide
from activities.types import DecideApplicationInput
from domain.applications import ApplicationDecision
from domain.errors import RuleViolation
from domain.identifiers import application_key
from domain.measures import ApplicantStanding, MeasureKind, MeasureState, check_application
from services.context import HubContext
from services.identity import ResidentSeen
from services.workflow_errors import violation_from
from storage import identity
from storage.catalog import terms_of
from storage.models import Application, Measure, MeasureTarget
from workflows.application import ApplicationWorkflow
from workflows.messages import ApplicationInput, ApplyRequest

T = TypeVar("T")
log = logging.getLogger(__name__)


def application_ids(ctx: HubContext, measure_id: str, mykey_id: str) -> tuple[str, str]:
    """(application ID, workflow ID), both derived from the business key, neither revealing it."""
    key = application_key(measure_id, mykey_id, ctx.id_secret)
    return f"app_{key}", f"application-{measure_id}-{key}"


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


def decided_in_request(measure: Measure) -> bool:
    """Applications the API decides itself: no review, no events to carry."""
    return measure.kind == MeasureKind.APPLICATION.value and not measure.review_required


async def _refuse_when_budget_gone(
    session: AsyncSession, measure: Measure, mykey_id: str, ctx: HubContext
) -> None:
    """The refusal of an application to a measure whose budget an unlocked read shows used up:
    the same rules in the same order as the locked decision (window, target list, cap, budget),
    so the answer is the one the lock would give."""
    if measure.budget_points is None:
        return
    if measure.budget_used + measure.points_per_grant <= measure.budget_points:
        return
    on_list = False
    if measure.target_list_only:
        query = select(
            exists().where(
                MeasureTarget.measure_id == measure.id, MeasureTarget.mykey_id == mykey_id
            )
        )
        on_list = bool((await session.execute(query)).scalar_one())
    standing = ApplicantStanding(
        on_target_list=on_list, points_already_granted=0, budget_used=measure.budget_used
    )
    check_application(terms_of(measure, []), standing, ctx.clock())


async def apply(
    ctx: HubContext,
    *,
    measure_id: str,
    token: str,
    fixed_registration_id: str | None,
    request_id: str | None = None,
    seen: ResidentSeen | None = None,
) -> ApplicationDecision:
    """Apply as the resident of session `token`; see the module's docstring for the two paths."""
    async with ctx.sessions.begin() as session:
        resident = await identity.resident_for_token(session, token, now=ctx.clock())
        if seen is not None:
            await seen(resident)
        mykey_id = resident.mykey_id
        measure = await session.get(Measure, measure_id)
        if measure is None or measure.state == MeasureState.DRAFT.value:
            raise RuleViolation("not_found", "no such measure", status=404)
        existing = await session.execute(
            select(Application.id).where(
                Application.measure_id == measure_id, Application.mykey_id == mykey_id
            )
        )
        if existing.first() is not None:
            raise RuleViolation(
                "already_applied", "one application per resident and measure", status=409
            )
        application_id, workflow_id = application_ids(ctx, measure_id, mykey_id)
        if decided_in_request(measure):
            await _refuse_when_budget_gone(session, measure, mykey_id, ctx)
            # The decision reads the measure again under its lock: not this unlocked copy.
            session.expunge(measure)
            return await decide(
                session,
                DecideApplicationInput(
                    measure_id=measure_id,
                    mykey_id=mykey_id,
                    application_id=application_id,
                    workflow_id=workflow_id,
                    fixed_registration_id=fixed_registration_id,
                ),
                now=ctx.clock(),
                actor=f"resident:{mykey_id}",
                request_id=request_id,
                rerun=False,
            )
    return await _apply_by_workflow(
        ctx, measure_id, mykey_id, application_id, workflow_id, fixed_registration_id
    )


async def _apply_by_workflow(
    ctx: HubContext,
    measure_id: str,
    mykey_id: str,
    application_id: str,
    workflow_id: str,
    fixed_registration_id: str | None,
) -> ApplicationDecision:
    start = WithStartWorkflowOperation(
        ApplicationWorkflow.run,
        ApplicationInput(measure_id=measure_id, mykey_id=mykey_id, application_id=application_id),
        id=workflow_id,
        task_queue=ctx.settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        # A refused application ends its workflow; the resident may apply again later.
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    return await _update_with_start(
        ctx, ApplicationWorkflow.apply, ApplyRequest(fixed_registration_id), start
    )


async def update_application(
    ctx: HubContext, application: Application, update: Any, argument: Any
) -> Any:
    """Send an update to an application's workflow, starting it from the database when it has
    none (decided in the request, or granted in bulk) or when it has ended; a refused rule comes
    back as `RuleViolation`, no answer within the deadline as 503 `temporal_unavailable`."""
    start = start_existing(application, ctx.settings.task_queue)
    return await _update_with_start(ctx, update, argument, start)


def start_existing(
    application: Application, task_queue: str
) -> WithStartWorkflowOperation[Any, Any]:
    """The start that goes with an update to an application's workflow: the running one, or a
    new run from the database when it has none or it has ended."""
    return WithStartWorkflowOperation(
        ApplicationWorkflow.run,
        ApplicationInput(
            measure_id=application.measure_id,
            mykey_id=application.mykey_id,
            application_id=application.id,
            existing=True,
        ),
        id=application.workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
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
