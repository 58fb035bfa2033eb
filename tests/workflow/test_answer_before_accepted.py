"""A provider's final answer can overtake its own 202: a result file (or an answer for an ended
workflow) is applied to the receipt where it was received while the credit call that the provider
answers `accepted` is still open. Recording that `accepted` then finds the receipt final, and the
carrier must stop there; it used to move the final receipt on to awaiting its answer, which the
receipt machine refuses (`IllegalMove`), so every workflow task failed again and the application
hung (seen under load in `mph bench lifecycle`, batch-file provider)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from domain.points import ledger_adds_up
from services.acknowledgements import AckItem, AckVerdict, WorkerContext, acknowledge_many
from services.context import HubContext
from storage.ledger import ledger_moves
from tests.support.fake_provider import FakeProvider
from tests.support.histories import record
from tests.workflow.receipts_support import hub_workers, provider_catalog, start_with_receipt
from tests.workflow.test_receipt_outcomes import grant_state, receipt_row


async def test_a_final_answer_applied_during_the_credit_call_ends_the_receipt(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    env = skipping_env
    fake = FakeProvider(mode="accepted")
    measure_id, service_id, provider_id = await provider_catalog(ctx, ack_mode="webhook")
    answered: list[AckVerdict] = []

    async def result_file_lands(receipt_id: str) -> None:
        worker_ctx = WorkerContext(ctx.sessions, env.client, lambda: datetime.now(UTC))
        [result] = await acknowledge_many(
            worker_ctx,
            provider_id,
            [AckItem(receipt_id, "credited", provider_reference=f"ref-{receipt_id}")],
            source="batch",
        )
        answered.append(result.verdict)

    fake.before_accepting = result_file_lands
    async with hub_workers(env, ctx, fake) as queue:
        run = await start_with_receipt(env, ctx, queue, measure_id, service_id)
        try:  # a carrier that breaks fails every workflow task again: the run never ends
            status = await asyncio.wait_for(run.handle.result(), timeout=30)
        except TimeoutError:
            raise AssertionError("the application workflow did not finish") from None
        description = await run.handle.describe()
        await record(run.handle, "application_answer_before_accepted")

    assert answered == [AckVerdict.RECORDED]
    assert status.status == "finished"
    assert description.status == WorkflowExecutionStatus.COMPLETED
    row = await receipt_row(ctx, run.receipt_id)
    assert (row.state, row.stuck) == ("credited", False)
    assert await grant_state(ctx, run.grant_id) == "credited"
    assert fake.accepted == {run.receipt_id: 1}
    async with ctx.sessions() as session:
        assert ledger_adds_up(await ledger_moves(session, measure_id=measure_id))
