"""Issue 17: every answer a provider sends is applied whether or not a workflow runs, and the
work that remains is resumed at once. A result file's answer for an application whose workflow
has ended is applied where the file is ingested; the application's other receipts, still waiting
for their answer, must be carried again right then, not at the next support action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from domain.points import ledger_adds_up
from services import events
from services.acknowledgements import AckItem, AckVerdict, WorkerContext, acknowledge_many
from services.context import HubContext
from storage.audit import utcnow
from storage.ledger import ledger_moves
from storage.models import PaymentProvider
from storage.models.audit import AuditEntry
from tests.support.direct import seed_catalog
from tests.support.fake_provider import FakeProvider
from tests.workflow.receipts_support import hub_workers, registered_resident, start_applied
from tests.workflow.test_receipt_outcomes import eventually, grant_state, receipt_row
from workflows.application import ApplicationWorkflow
from workflows.messages import AttendanceReportRequest, ReceiptRequest


async def _two_events_measure(ctx: HubContext) -> tuple[str, str, str, list[str]]:
    """An event measure at an accepting provider: (measure, service, provider, event IDs)."""
    now = datetime.now(UTC)
    catalog = await seed_catalog(
        ctx,
        kind="event",
        points_per_grant=100,
        per_person_cap=10_000,
        closes_at=now + timedelta(days=30),
        receipt_deadline=now + timedelta(days=60),
    )
    async with ctx.sessions.begin() as session:
        provider = await session.get(PaymentProvider, catalog.provider_id)
        assert provider is not None
        provider.config = {**provider.config, "ack_mode": "webhook", "ack_deadline_s": 86_400}
    created = [
        await events.create_event(
            ctx,
            "131016",
            catalog.measure_id,
            events.NewEvent(f"清掃 {i}", now + timedelta(hours=1), now + timedelta(hours=3), 100),
        )
        for i in range(2)
    ]
    return (
        catalog.measure_id,
        catalog.payment_service_id,
        catalog.provider_id,
        [e.id for e in created],
    )


async def test_a_result_file_answer_for_an_ended_workflow_resumes_the_other_receipts(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    fake = FakeProvider(mode="accepted")  # takes the credit on, answers later
    measure_id, service_id, provider_id, event_ids = await _two_events_measure(ctx)
    mykey_id, registration_id = await registered_resident(ctx, service_id)
    async with hub_workers(skipping_env, ctx, fake) as queue:
        handle, decision = await start_applied(skipping_env, ctx, queue, measure_id, mykey_id)
        assert decision.status == "registered"
        await skipping_env.sleep(timedelta(hours=1, minutes=30))
        for event_id in event_ids:
            reported_at = await skipping_env.get_current_time()
            await handle.execute_update(
                ApplicationWorkflow.report_attendance,
                AttendanceReportRequest(event_id, reported_at),
            )
        status = await handle.query(ApplicationWorkflow.status)
        grant_ids = [g.grant_id for g in status.grants]
        ticket = await handle.execute_update(
            ApplicationWorkflow.request_receipt,
            ReceiptRequest(grant_ids=grant_ids, registration_id=registration_id),
        )
        first, second = (p.receipt_id for p in ticket.receipts)

        async def both_accepted() -> bool:
            rows = [await receipt_row(ctx, r) for r in (first, second)]
            return {r.state for r in rows} == {"accepted"}

        await eventually(both_accepted)
        await handle.terminate("a worker crash window: the workflow is gone")

        # The provider's result file answers the first receipt while no workflow runs.
        worker_ctx = WorkerContext(ctx.sessions, skipping_env.client, utcnow, queue)
        [answer] = await acknowledge_many(
            worker_ctx,
            provider_id,
            [AckItem(first, "credited", None, f"ref-{first}")],
            source="batch",
        )
        assert (answer.verdict, answer.delivered) == (AckVerdict.RECORDED, True)
        assert (await receipt_row(ctx, first)).state == "credited"
        # ... and the second receipt is carried again at once, by a new run.
        latest = skipping_env.client.get_workflow_handle_for(ApplicationWorkflow.run, handle.id)
        assert (await latest.describe()).status == WorkflowExecutionStatus.RUNNING
        carried = await latest.query(ApplicationWorkflow.status)
        assert {r.plan.receipt_id: r.state for r in carried.receipts} == {second: "accepted"}

        # Its answer then reaches that run, which takes it (an event registration stays open
        # for reports until the measure's receipt deadline).
        [later] = await acknowledge_many(
            worker_ctx,
            provider_id,
            [AckItem(second, "credited", None, f"ref-{second}")],
            source="batch",
        )
        assert (later.verdict, later.delivered) == (AckVerdict.RECORDED, True)

        async def both_carried_credited() -> bool:
            status = await latest.query(ApplicationWorkflow.status)
            return {g.state for g in status.grants} == {"credited"}

        await eventually(both_carried_credited)
        assert (await latest.describe()).status == WorkflowExecutionStatus.RUNNING
        await latest.terminate("test over")
    assert {r: (await receipt_row(ctx, r)).state for r in (first, second)} == {
        first: "credited",
        second: "credited",
    }
    assert [await grant_state(ctx, g) for g in grant_ids] == ["credited", "credited"]
    assert fake.accepted == {first: 1, second: 1}  # no credit call again for either
    async with ctx.sessions() as session:
        moves = await ledger_moves(session, measure_id=measure_id)
        assert ledger_adds_up(moves)
        assert [m.points for m in moves if m.to_state.value == "credited"] == [100, 100]
        audited = await session.execute(
            select(AuditEntry.actor).where(AuditEntry.action == "resume_receipts")
        )
        assert audited.scalars().all() == [f"provider:{provider_id}"]
