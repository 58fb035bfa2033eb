"""Work that remains when an application's workflow has ended (older code failed workflows on
provider errors): a support action takes the open receipt up in a new run, which carries it to
its end."""

from __future__ import annotations

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from services import support
from services.context import HubContext
from tests.support.fake_provider import FakeProvider
from tests.support.histories import record
from tests.workflow.test_carrier_paths import _ledger_adds_up, stuck_after_three
from tests.workflow.test_receipt_outcomes import grant_state, receipt_row
from workflows.application import ApplicationWorkflow


async def test_a_support_action_on_a_receipt_whose_workflow_ended_resumes_it(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    fake = FakeProvider(always_fail=True, statuses=["credited"])
    async with stuck_after_three(skipping_env, ctx, fake) as (run, measure_id, queue):
        ctx.temporal = skipping_env.client
        ctx.settings = ctx.settings.model_copy(update={"task_queue": queue})
        await run.handle.terminate("ended with a receipt open")

        outcome = await support.act(
            ctx, run.receipt_id, action="check_provider_status", note=None, actor="support:kato"
        )
        assert outcome.provider_status == "credited"
        latest = skipping_env.client.get_workflow_handle_for(ApplicationWorkflow.run, run.handle.id)
        status = await latest.result()  # the new run records the answer and ends
        await record(latest, "application_resumed_by_support")
    assert status.status == "finished"
    assert [(r.plan.receipt_id, r.state) for r in status.receipts] == [(run.receipt_id, "credited")]
    row = await receipt_row(ctx, run.receipt_id)
    assert (row.state, row.stuck) == ("credited", False)
    assert await grant_state(ctx, run.grant_id) == "credited"
    assert (await latest.describe()).status == WorkflowExecutionStatus.COMPLETED
    await _ledger_adds_up(ctx, measure_id)
