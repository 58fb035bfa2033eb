"""Applying to a measure: one workflow per (measure, MyKey ID), started by its `apply` update."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from domain.applications import ApplicationDecision
from domain.errors import RuleViolation
from domain.identifiers import application_key
from services.context import HubContext
from services.workflow_errors import violation_from
from storage.models import Application, Measure
from workflows.application import ApplicationWorkflow
from workflows.messages import ApplicationInput, ApplyRequest


def application_ids(ctx: HubContext, measure_id: str, mykey_id: str) -> tuple[str, str]:
    """(application ID, workflow ID), both derived from the business key, neither revealing it."""
    key = application_key(measure_id, mykey_id, ctx.id_secret)
    return f"app_{key}", f"application-{measure_id}-{key}"


async def apply(
    ctx: HubContext, *, measure_id: str, mykey_id: str, fixed_registration_id: str | None
) -> ApplicationDecision:
    async with ctx.sessions() as session:
        measure = await session.get(Measure, measure_id)
        if measure is None or measure.state == "draft":
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
    start = WithStartWorkflowOperation(
        ApplicationWorkflow.run,
        ApplicationInput(measure_id=measure_id, mykey_id=mykey_id, application_id=application_id),
        id=workflow_id,
        task_queue=ctx.settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        # A refused application ends its workflow; the resident may apply again later.
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    try:
        return await ctx.client().execute_update_with_start_workflow(
            ApplicationWorkflow.apply,
            ApplyRequest(fixed_registration_id=fixed_registration_id),
            start_workflow_operation=start,
        )
    except WorkflowUpdateFailedError as error:
        violation = violation_from(error)
        if violation is None:
            raise
        raise violation from error


async def update_application(
    ctx: HubContext, application: Application, update: Any, argument: Any
) -> Any:
    """Send an update to an application's workflow, starting it from the database when it has
    none (bulk grants) or when it has ended; a refused rule comes back as `RuleViolation`."""
    start = WithStartWorkflowOperation(
        ApplicationWorkflow.run,
        ApplicationInput(
            measure_id=application.measure_id,
            mykey_id=application.mykey_id,
            application_id=application.id,
            existing=True,
        ),
        id=application.workflow_id,
        task_queue=ctx.settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    try:
        return await ctx.client().execute_update_with_start_workflow(
            update, argument, start_workflow_operation=start
        )
    except WorkflowUpdateFailedError as error:
        violation = violation_from(error)
        if violation is None:
            raise
        raise violation from error
