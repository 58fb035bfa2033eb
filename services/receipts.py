"""Receipt requests: checked against the database, then carried by each application's
orchestrator (its workflow, or in-process calls: `services/orchestration.py`)."""

from __future__ import annotations

from domain.receipts import ReceiptPlan
from services.context import HubContext
from services.orchestration import WorkflowLabels, orchestrator
from storage import receipts
from storage.models import Application
from workflows.messages import ReceiptRequest


async def request_receipts(
    ctx: HubContext, *, mykey_id: str, grant_ids: list[str], registration_id: str
) -> list[ReceiptPlan]:
    """All-or-nothing as far as the rules go: every grant is checked before any is claimed."""
    async with ctx.sessions() as session:
        checked = await receipts.check_receipt_request(
            session,
            mykey_id=mykey_id,
            grant_ids=grant_ids,
            registration_id=registration_id,
            now=ctx.clock(),
        )
    by_workflow: dict[str, tuple[Application, str, list[str]]] = {}
    for row in checked.rows:
        application = row.application
        found: tuple[Application, str, list[str]] = (application, row.measure.municipality_code, [])
        by_workflow.setdefault(application.workflow_id, found)[2].append(row.grant.id)
    plans: list[ReceiptPlan] = []
    for application, municipality_code, ids in by_workflow.values():
        providers = [checked.provider_id] if checked.provider_id else []
        labels = WorkflowLabels(application.state, municipality_code, providers)
        ticket = await orchestrator(ctx).request_receipt(
            ctx,
            application,
            ReceiptRequest(grant_ids=ids, registration_id=registration_id),
            labels=labels,
        )
        plans.extend(ticket.receipts)
    return plans
