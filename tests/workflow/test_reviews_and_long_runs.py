"""Human review timers and year-long event registrations, in skipped time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.reviews import Decision, ReviewPolicy
from services import events
from services.applications import application_ids
from services.context import HubContext
from storage.models.reviews import Review
from tests.support.direct import new_resident, seed_catalog
from tests.support.fake_provider import FakeProvider
from tests.support.histories import record
from tests.workflow.receipts_support import hub_workers, start_review
from workflows import revisions
from workflows.application import ApplicationWorkflow
from workflows.messages import ApplicationInput, ApplyRequest, AttendanceReportRequest

POLICY = ReviewPolicy(
    remind_after=timedelta(hours=24),
    decide_after=timedelta(hours=72),
    default_decision=Decision.APPROVE,
)


async def test_an_undecided_review_is_reminded_then_decided_by_the_measure_policy(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    catalog = await seed_catalog(ctx, review_required=True)
    async with hub_workers(skipping_env, ctx, FakeProvider(), review_policy=POLICY) as queue:
        handle, decision = await start_review(skipping_env, ctx, queue, catalog.measure_id)
        assert decision.review is not None
        review_id = decision.review.review_id

        await skipping_env.sleep(timedelta(hours=25))
        review = await _review(ctx, review_id)
        assert review.status == "pending" and review.reminded_at is not None

        await skipping_env.sleep(timedelta(hours=48))
        review = await _review(ctx, review_id)
        assert (review.status, review.decided_by) == ("approved", "policy:review-deadline")
        status = await handle.query(ApplicationWorkflow.status)
        assert [(g.points, g.state) for g in status.grants] == [(1000, "unreceived")]
        await handle.terminate("test over")
        await record(handle, "application_review_timers")


async def _review(ctx: HubContext, review_id: str) -> Review:
    async with ctx.sessions() as session:
        row = await session.get(Review, review_id)
        assert row is not None
        return row


async def test_a_year_of_events_continues_as_new_with_its_state(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    now = datetime.now(UTC)
    catalog = await seed_catalog(
        ctx,
        kind="event",
        points_per_grant=100,
        per_person_cap=100_000,
        closes_at=now + timedelta(days=380),
        receipt_deadline=now + timedelta(days=400),
    )
    created = [
        await events.create_event(
            ctx,
            "131016",
            catalog.measure_id,
            events.NewEvent(
                f"地域清掃 {i + 1}",
                now + timedelta(days=15 * i, hours=1),
                now + timedelta(days=15 * i, hours=3),
                100,
            ),
        )
        for i in range(24)
    ]
    mykey_id = await new_resident(ctx)
    application_id, workflow_id = application_ids(ctx, catalog.measure_id, mykey_id)
    async with hub_workers(skipping_env, ctx, FakeProvider()) as queue:
        handle = await skipping_env.client.start_workflow(
            ApplicationWorkflow.run,
            ApplicationInput(
                catalog.measure_id,
                mykey_id,
                application_id,
                history_limit=40,
                revision=revisions.CURRENT,
            ),
            id=workflow_id,
            task_queue=queue,
        )
        first_run = handle.result_run_id
        registered = await handle.execute_update(ApplicationWorkflow.apply, ApplyRequest())
        assert registered.status == "registered"
        for event in created:
            current = await skipping_env.get_current_time()
            await skipping_env.sleep(event.starts_at + timedelta(minutes=30) - current)
            reported_at = await skipping_env.get_current_time()
            latest = skipping_env.client.get_workflow_handle_for(
                ApplicationWorkflow.run, workflow_id
            )
            outcome = await latest.execute_update(
                ApplicationWorkflow.report_attendance,
                AttendanceReportRequest(event.id, reported_at),
            )
            assert outcome.status == "accepted", outcome
        latest = skipping_env.client.get_workflow_handle_for(ApplicationWorkflow.run, workflow_id)
        described = await latest.describe()
        assert described.run_id != first_run  # it continued as new along the way
        status = await latest.query(ApplicationWorkflow.status)
        assert len(status.grants) == 24 and {g.state for g in status.grants} == {"unreceived"}
        try:
            await latest.execute_update(
                ApplicationWorkflow.report_attendance,
                AttendanceReportRequest(created[0].id, reported_at),
            )
        except WorkflowUpdateFailedError as refused:
            assert "already reported" in str(refused.cause)
        else:
            raise AssertionError("a report from an earlier run was accepted twice")
        await latest.terminate("test over")
