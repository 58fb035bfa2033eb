"""Issue 17: a receipt claimed in the database stays open until a final answer, so some workflow
must carry it. A claim whose workflow ended, or whose update was lost after its step committed,
is found by the lost-claim sweep (`services/resumption.py`, run by every hub worker) and handed
to the application's workflow, which credits it once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities.receipts import claim
from activities.types import ClaimReceiptsInput
from domain.points import ledger_adds_up
from services.acknowledgements import WorkerContext
from services.context import HubContext
from services.resumption import sweep_lost_claims
from storage.audit import utcnow
from storage.ledger import ledger_moves
from storage.models.audit import AuditEntry
from tests.support.fake_provider import FakeProvider
from tests.support.histories import record
from tests.workflow.receipts_support import (
    hub_workers,
    provider_catalog,
    registered_resident,
    start_applied,
)
from tests.workflow.test_receipt_outcomes import eventually, grant_state, receipt_row
from workflows.application import ApplicationWorkflow
from workflows.messages import ReceiptRequest


@pytest.mark.parametrize("workflow", ["ended", "running"])
async def test_the_sweep_resumes_a_claim_no_workflow_carries(
    skipping_env: WorkflowEnvironment, ctx: HubContext, workflow: str
) -> None:
    fake = FakeProvider()  # credits synchronously
    measure_id, service_id, _ = await provider_catalog(ctx)
    mykey_id, registration_id = await registered_resident(ctx, service_id)
    async with hub_workers(skipping_env, ctx, fake) as queue:
        handle, decision = await start_applied(skipping_env, ctx, queue, measure_id, mykey_id)
        [grant] = decision.grants
        if workflow == "ended":
            await handle.terminate("a worker crash window: the workflow is gone")
        # The claim's step committed; the update that ran it never reached the workflow.
        async with ctx.sessions.begin() as session:
            [plan] = await claim(
                session,
                ClaimReceiptsInput(
                    mykey_id=mykey_id,
                    grant_ids=[grant.grant_id],
                    registration_id=registration_id,
                    workflow_id=handle.id,
                    queue_batch=True,
                ),
                now=datetime.now(UTC) - timedelta(minutes=30),
            )
        assert (await receipt_row(ctx, plan.receipt_id)).state == "requested"
        sweeper = WorkerContext(ctx.sessions, skipping_env.client, utcnow, queue)

        # A fresh claim is left alone: its own workflow may still be about to take it.
        fresh = await sweep_lost_claims(sweeper, task_queue=queue, older_than=timedelta(hours=1))
        assert (fresh.looked_at, fresh.resumed) == (0, {})

        report = await sweep_lost_claims(sweeper, task_queue=queue)
        assert report.looked_at == 1
        assert list(report.resumed.values()) == [[plan.receipt_id]]
        latest = skipping_env.client.get_workflow_handle_for(ApplicationWorkflow.run, handle.id)
        status = await latest.result()
        await record(latest, f"application_swept_{workflow}")
        # Swept again: the receipt is final, nothing is open, nothing resumed.
        again = await sweep_lost_claims(sweeper, task_queue=queue, older_than=timedelta(0))
        assert (again.looked_at, again.resumed) == (0, {})

    assert status.status == "finished"
    carried = [(r.plan.receipt_id, r.state) for r in status.receipts]
    assert carried == [(plan.receipt_id, "credited")]
    assert fake.applied == {plan.receipt_id: 1}
    assert (await receipt_row(ctx, plan.receipt_id)).state == "credited"
    assert await grant_state(ctx, grant.grant_id) == "credited"
    assert (await latest.describe()).status == WorkflowExecutionStatus.COMPLETED
    async with ctx.sessions() as session:
        moves = await ledger_moves(session, measure_id=measure_id)
        assert ledger_adds_up(moves)
        assert [m.points for m in moves if m.to_state.value == "credited"] == [grant.points]
        audited = await session.execute(
            select(AuditEntry.actor, AuditEntry.outcome).where(
                AuditEntry.action == "resume_receipts"
            )
        )
        assert audited.all() == [("sweeper", "resumed 1")]


async def test_the_sweep_leaves_a_carried_receipt_alone(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    """A receipt its running workflow carries (waiting for the provider's answer) is not
    resumed, however old."""
    fake = FakeProvider(mode="accepted")
    measure_id, service_id, _ = await provider_catalog(ctx, ack_mode="webhook")
    mykey_id, registration_id = await registered_resident(ctx, service_id)
    async with hub_workers(skipping_env, ctx, fake) as queue:
        handle, decision = await start_applied(skipping_env, ctx, queue, measure_id, mykey_id)
        [grant] = decision.grants
        ticket = await handle.execute_update(
            ApplicationWorkflow.request_receipt,
            ReceiptRequest(grant_ids=[grant.grant_id], registration_id=registration_id),
        )
        [plan] = ticket.receipts

        async def accepted() -> bool:
            return (await receipt_row(ctx, plan.receipt_id)).state == "accepted"

        await eventually(accepted)
        sweeper = WorkerContext(ctx.sessions, skipping_env.client, utcnow, queue)
        report = await sweep_lost_claims(sweeper, task_queue=queue, older_than=timedelta(0))
        assert (report.looked_at, report.resumed) == (1, {})
        await handle.terminate("test over")
    assert fake.accepted == {plan.receipt_id: 1}
