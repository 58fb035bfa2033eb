"""Receipt requests: checked against the database, then carried by each application workflow."""

from __future__ import annotations

from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from domain.receipts import ReceiptPlan
from services.context import HubContext
from services.workflow_errors import violation_from
from storage import receipts
from storage.models import Application
from workflows.application import ApplicationWorkflow
from workflows.messages import ApplicationInput, ReceiptRequest


async def request_receipts(
    ctx: HubContext, *, mykey_id: str, grant_ids: list[str], registration_id: str
) -> list[ReceiptPlan]:
    """All-or-nothing as far as the rules go: every grant is checked before any is claimed."""
    async with ctx.sessions() as session:
        _, grants = await receipts.check_receipt_request(
            session,
            mykey_id=mykey_id,
            grant_ids=grant_ids,
            registration_id=registration_id,
            now=ctx.clock(),
        )
        by_workflow: dict[str, tuple[Application, list[str]]] = {}
        for grant in grants:
            application = await session.get(Application, grant.application_id)
            assert application is not None
            by_workflow.setdefault(application.workflow_id, (application, []))[1].append(grant.id)
    plans: list[ReceiptPlan] = []
    for workflow_id, (application, ids) in by_workflow.items():
        # Bulk-granted applications get their workflow at their first receipt request.
        start = WithStartWorkflowOperation(
            ApplicationWorkflow.run,
            ApplicationInput(
                measure_id=application.measure_id,
                mykey_id=application.mykey_id,
                application_id=application.id,
                existing=True,
            ),
            id=workflow_id,
            task_queue=ctx.settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        try:
            ticket = await ctx.client().execute_update_with_start_workflow(
                ApplicationWorkflow.request_receipt,
                ReceiptRequest(grant_ids=ids, registration_id=registration_id),
                start_workflow_operation=start,
            )
        except WorkflowUpdateFailedError as error:
            violation = violation_from(error)
            if violation is None:
                raise
            raise violation from error
        plans.extend(ticket.receipts)
    return plans
