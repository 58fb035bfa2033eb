"""Issue 17: no provider behaviour and no race ends an application workflow, and no receipt is
credited twice. In skipped time, with the real worker composition and the fake provider."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.testing import WorkflowEnvironment

from adapters.signing import sign_headers
from domain.points import ledger_adds_up
from domain.reviews import Decision, ReviewPolicy
from services import provider_webhooks
from services.context import HubContext
from storage import provider_inbox, reviews
from storage.ledger import ledger_moves
from storage.models import PaymentProvider
from storage.models.audit import AuditEntry
from storage.models.reviews import Review
from tests.support.direct import seed_catalog
from tests.support.fake_provider import FakeProvider
from tests.support.histories import record
from tests.workflow.receipts_support import (
    Running,
    hub_workers,
    provider_catalog,
    refused,
    start_review,
    start_with_receipt,
)
from tests.workflow.test_receipt_outcomes import (
    _stuck,
    eventually,
    grant_state,
    receipt_row,
)
from workflows.application import ApplicationWorkflow
from workflows.messages import SupportAction

WEBHOOK_SECRET = "whsec_" + secrets.token_hex(16)


async def webhook_provider(ctx: HubContext, env: WorkflowEnvironment) -> tuple[str, str, str]:
    measure_id, service_id, provider_id = await provider_catalog(
        ctx, ack_mode="webhook", ack_deadline_s=600
    )
    async with ctx.sessions.begin() as session:
        provider = await session.get(PaymentProvider, provider_id)
        assert provider is not None
        provider.secrets = {**provider.secrets, "webhook_secrets": [WEBHOOK_SECRET]}
    ctx.temporal = env.client  # the webhook's acknowledgement signals the workflow
    return measure_id, service_id, provider_id


async def send_credit_completed(ctx: HubContext, provider_id: str, receipt_id: str) -> str:
    body = json.dumps(
        {
            "type": "credit.completed",
            "data": {"receipt_id": receipt_id, "provider_reference": f"late-{receipt_id}"},
        }
    ).encode()
    outcome = await provider_webhooks.receive(
        ctx, provider_id, body, sign_headers(WEBHOOK_SECRET, body)
    )
    return outcome.outcome


async def assert_credited_late(ctx: HubContext, run: Running, measure_id: str) -> None:
    """Credited by the late webhook, once, and the ledger adds up."""
    row = await receipt_row(ctx, run.receipt_id)
    assert (row.state, row.stuck, row.provider_reference) == (
        "credited",
        False,
        f"late-{run.receipt_id}",
    )
    assert await grant_state(ctx, run.grant_id) == "credited"
    async with ctx.sessions() as session:
        assert ledger_adds_up(await ledger_moves(session, measure_id=measure_id))


async def _polled(fake: FakeProvider, calls: int) -> bool:
    return fake.status_calls >= calls


async def test_a_failing_status_endpoint_then_a_late_webhook_ends_credited(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    # Past the deadline the status endpoint answers 500 three times, then a word the hub does
    # not know twice; the workflow waits on; the signed webhook then credits the grant.
    fake = FakeProvider(mode="accepted", statuses=["error"] * 3 + ["settled-ish"] * 2)
    measure_id, service_id, provider_id = await webhook_provider(ctx, skipping_env)
    async with hub_workers(skipping_env, ctx, fake) as queue:
        run = await start_with_receipt(skipping_env, ctx, queue, measure_id, service_id)
        await eventually(lambda: _receipt_is(ctx, run.receipt_id, "accepted"))
        waited = 600.0
        for calls in range(1, 6):
            waited *= 2
            await skipping_env.sleep(timedelta(seconds=waited))
            await eventually(lambda calls=calls: _polled(fake, calls))
        assert (await run.handle.describe()).status == WorkflowExecutionStatus.RUNNING
        row = await receipt_row(ctx, run.receipt_id)
        assert (row.state, row.stuck_reason) == ("accepted", "no_acknowledgement")
        assert await grant_state(ctx, run.grant_id) == "crediting"

        assert await send_credit_completed(ctx, provider_id, run.receipt_id) == "recorded"
        status = await run.handle.result()
        await record(run.handle, "application_status_failing_then_webhook")
    assert status.status == "finished"
    await assert_credited_late(ctx, run, measure_id)


async def test_a_late_webhook_for_a_closed_workflow_is_applied_where_it_is_received(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    fake = FakeProvider(mode="accepted", statuses=["error"] * 10)
    measure_id, service_id, provider_id = await webhook_provider(ctx, skipping_env)
    async with hub_workers(skipping_env, ctx, fake) as queue:
        run = await start_with_receipt(skipping_env, ctx, queue, measure_id, service_id)
        await eventually(lambda: _receipt_is(ctx, run.receipt_id, "accepted"))
        await skipping_env.sleep(timedelta(seconds=700))
        await eventually(lambda: _stuck(ctx, run.receipt_id))
        # The workflow is gone (older code failed it on the status errors; here: terminated).
        if (await run.handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await run.handle.terminate("closed before the provider answered")

        assert await send_credit_completed(ctx, provider_id, run.receipt_id) == "recorded"
    await assert_credited_late(ctx, run, measure_id)


async def _receipt_is(ctx: HubContext, receipt_id: str, state: str) -> bool:
    return (await receipt_row(ctx, receipt_id)).state == state


async def test_retry_now_during_a_return_never_credits_a_returned_receipt(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    """Issue 17 item 2: a return awaits the provider's `not_found`; support's `retry_now`
    arrives meanwhile. Before the fix the retry started a credit and the return went ahead on
    the stale answer: the provider took the credit on, the hub gave the points back, and the
    resident's next receipt (`-r2`, a new idempotency key) credited them again."""
    gate = asyncio.Event()
    fake = FakeProvider(mode="accepted", fail_first=3, statuses=["not_found"], status_gate=gate)
    measure_id, service_id, _ = await provider_catalog(
        ctx,
        ack_mode="webhook",
        retry={"initial_interval_s": 1, "max_interval_s": 2, "max_attempts": 3},
    )
    async with hub_workers(skipping_env, ctx, fake) as queue:
        run = await start_with_receipt(skipping_env, ctx, queue, measure_id, service_id)
        await eventually(lambda: _stuck(ctx, run.receipt_id))
        assert fake.calls == 3

        back = SupportAction(run.receipt_id, "return_to_unreceived", actor="support:a")
        returning = await run.handle.start_update(
            ApplicationWorkflow.support_action, back, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        await eventually(lambda: _polled(fake, 1))  # the return waits for the provider
        retry = SupportAction(run.receipt_id, "retry_now", actor="support:b")
        await run.handle.execute_update(ApplicationWorkflow.support_action, retry)
        await asyncio.sleep(1.5)  # room for a credit call to start, if the carrier would
        gate.set()
        try:
            outcome = await returning.result()
        except WorkflowUpdateFailedError:
            returned = False
        else:
            returned = outcome.receipt_state == "returned"
        await asyncio.sleep(1.0)  # room for the retry to run after the return, if it would

        row = await receipt_row(ctx, run.receipt_id)
        if returned:
            assert row.state == "returned"
            # The provider never took this receipt on: a new receipt cannot double it.
            assert fake.accepted.get(run.receipt_id, 0) == 0, "returned while a credit is on"
            assert fake.calls == 3
            assert await grant_state(ctx, run.grant_id) == "unreceived"
        else:
            assert row.state in ("crediting", "accepted")
            assert await grant_state(ctx, run.grant_id) == "crediting"
        assert (await run.handle.describe()).status == WorkflowExecutionStatus.RUNNING
        async with ctx.sessions() as session:
            assert ledger_adds_up(await ledger_moves(session, measure_id=measure_id))
        await run.handle.terminate("test over")
        await record(run.handle, "application_retry_during_return")


async def test_a_staff_decision_racing_the_review_deadline_does_not_fail_the_workflow(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    """Staff approved while the measure's default decision (reject) fell due: the default is
    refused with `review_already_decided`, which used to fail the workflow."""
    catalog = await seed_catalog(ctx, review_required=True)
    policy = ReviewPolicy(
        remind_after=timedelta(hours=24),
        decide_after=timedelta(hours=72),
        default_decision=Decision.REJECT,
    )
    async with hub_workers(skipping_env, ctx, FakeProvider(), review_policy=policy) as queue:
        handle, decision = await start_review(skipping_env, ctx, queue, catalog.measure_id)
        assert decision.review is not None
        review_id = decision.review.review_id
        # The staff decision commits first; the workflow's default decision comes second.
        async with ctx.sessions.begin() as session:
            await reviews.decide(
                session,
                review_id,
                Decision.APPROVE,
                "documents arrived",
                actor="staff:kato",
                now=datetime.now(UTC),
            )
        await skipping_env.sleep(timedelta(hours=73))
        await eventually(lambda: _settled(handle, ctx, review_id))
        # Not failed: it read the staff decision back, and the grant that decision made.
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        status = await handle.query(ApplicationWorkflow.status)
        assert status.status == "granted"
        assert [(g.points, g.state) for g in status.grants] == [(1000, "unreceived")]
        async with ctx.sessions() as session:
            review = await session.get(Review, review_id)
            assert review is not None
            assert (review.status, review.decided_by) == ("approved", "staff:kato")
        await handle.terminate("test over")
        await record(handle, "application_review_race_read_back")


async def _settled(handle: WorkflowHandle[Any, Any], ctx: HubContext, review_id: str) -> bool:
    """The workflow ended, or read the staff decision back at its deadline."""
    if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
        return True
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(AuditEntry.id).where(
                AuditEntry.object_id == review_id, AuditEntry.action == "decide_review"
            )
        )
        return rows.first() is not None


async def _pull(ctx: HubContext, provider_id: str) -> list[str]:
    """What the pull API hands out (`GET /v1/providers/{id}/credit-requests`): listed, counted."""
    async with ctx.sessions.begin() as session:
        found = await provider_inbox.pending_credit_requests(
            session, provider_id, include_crediting=True, limit=100
        )
        return sorted(await provider_inbox.count_pulls(session, [r.id for r in found]))


async def test_a_pull_mode_receipt_is_returned_only_if_no_pull_came_after_the_answer(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    gate = asyncio.Event()
    fake = FakeProvider(mode="accepted", statuses=["not_found", "not_found"], status_gate=gate)
    measure_id, service_id, provider_id = await provider_catalog(ctx, ack_mode="pull")
    async with hub_workers(skipping_env, ctx, fake) as queue:
        run = await start_with_receipt(skipping_env, ctx, queue, measure_id, service_id)
        await eventually(lambda: _receipt_is(ctx, run.receipt_id, "accepted"))
        back = SupportAction(run.receipt_id, "return_to_unreceived", actor="support:a")
        returning = await run.handle.start_update(
            ApplicationWorkflow.support_action, back, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        await eventually(lambda: _polled(fake, 1))  # not pulled yet: the provider says not_found
        assert await _pull(ctx, provider_id) == [run.receipt_id]  # ... and pulls it now
        gate.set()
        await refused(
            returning.result(),
            "fetched this credit request",
            "returned although the provider pulled it after its answer",
        )
        assert await grant_state(ctx, run.grant_id) == "crediting"

        # Not pulled again: the return goes through and withdraws it from the pull queue.
        outcome = await run.handle.execute_update(ApplicationWorkflow.support_action, back)
        assert outcome.receipt_state == "returned"
        assert await _pull(ctx, provider_id) == []
        assert await grant_state(ctx, run.grant_id) == "unreceived"
        await record(run.handle, "application_pull_return")
        await run.handle.terminate("test over")
