"""Receipt requests: checked against the database, then carried by each application workflow."""

from __future__ import annotations

from collections import defaultdict

from temporalio.client import WorkflowUpdateFailedError

from domain.receipts import ReceiptPlan
from services.context import HubContext
from services.workflow_errors import violation_from
from storage import receipts
from storage.models import Application
from workflows.application import ApplicationWorkflow
from workflows.messages import ReceiptRequest


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
        by_workflow: dict[str, list[str]] = defaultdict(list)
        for grant in grants:
            application = await session.get(Application, grant.application_id)
            assert application is not None
            by_workflow[application.workflow_id].append(grant.id)
    plans: list[ReceiptPlan] = []
    for workflow_id, ids in by_workflow.items():
        handle = ctx.client().get_workflow_handle(workflow_id)
        try:
            ticket = await handle.execute_update(
                ApplicationWorkflow.request_receipt,
                ReceiptRequest(grant_ids=ids, registration_id=registration_id),
            )
        except WorkflowUpdateFailedError as error:
            violation = violation_from(error)
            if violation is None:
                raise
            raise violation from error
        plans.extend(ticket.receipts)
    return plans
