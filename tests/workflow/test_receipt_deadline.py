"""The receipt deadline is a durable timer: skip past it and unreceived points expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.applications import ApplicationActivities
from activities.receipts import ReceiptActivities
from domain.points import ledger_adds_up
from hub.workers import workflow_runner
from services.applications import application_ids
from services.context import HubContext
from storage.ledger import ledger_moves
from storage.models import Grant
from tests.support.direct import new_resident, seed_catalog
from workflows import revisions
from workflows.application import ApplicationWorkflow
from workflows.messages import ApplicationInput, ApplyRequest


async def test_unreceived_points_expire_at_the_receipt_deadline(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    deadline = datetime.now(UTC) + timedelta(days=30)
    catalog = await seed_catalog(ctx, receipt_deadline=deadline)
    mykey_id = await new_resident(ctx)
    application_id, workflow_id = application_ids(ctx, catalog.measure_id, mykey_id)
    apps = ApplicationActivities(ctx.sessions)
    receipts = ReceiptActivities(ctx.sessions)
    async with Worker(
        skipping_env.client,
        task_queue="deadline-test",
        workflows=[ApplicationWorkflow],
        activities=[
            apps.decide_application,
            apps.expire_grants,
            receipts.claim_receipts,
            receipts.record_credit_outcome,
        ],
        workflow_runner=workflow_runner(sandboxed=True),
    ):
        # The API starts this workflow with update-with-start; the time-skipping test server
        # does not unlock time skipping after that call, so this test starts, then updates.
        handle = await skipping_env.client.start_workflow(
            ApplicationWorkflow.run,
            ApplicationInput(
                catalog.measure_id, mykey_id, application_id, revision=revisions.CURRENT
            ),
            id=workflow_id,
            task_queue="deadline-test",
        )
        decision = await handle.execute_update(ApplicationWorkflow.apply, ApplyRequest())
        assert decision.status == "granted"
        [grant] = decision.grants

        before = await skipping_env.get_current_time()
        status = await handle.result()  # time skips to the deadline timer
        after = await skipping_env.get_current_time()

    assert after - before >= timedelta(days=29)
    assert status.status == "finished"
    assert [g.state for g in status.grants] == ["expired"]
    async with ctx.sessions() as session:
        row = await session.get(Grant, grant.grant_id)
        assert row is not None and row.state == "expired"
        assert ledger_adds_up(await ledger_moves(session, measure_id=catalog.measure_id))
