"""The receipt carrier's paths that issue 17 added or changed, each recorded as a replay history:
`retry_now` asks the provider first, a paused provider's receipts wait without turning stuck, a
receipt polled for long continues as new, and a revocation while a receipt is stuck."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.points import ledger_adds_up
from services import provider_pause
from services.context import HubContext
from storage.ledger import ledger_moves
from storage.models import MyKey
from tests.support.fake_provider import FakeProvider
from tests.support.histories import record
from tests.workflow.receipts_support import (
    Running,
    hub_workers,
    provider_catalog,
    start_with_receipt,
)
from tests.workflow.test_carrier_invariant import send_credit_completed, webhook_provider
from tests.workflow.test_receipt_outcomes import _stuck, eventually, grant_state, receipt_row
from workflows.application import ApplicationWorkflow
from workflows.messages import SupportAction

EXHAUSTED_AFTER_3 = {"initial_interval_s": 1, "max_interval_s": 2, "max_attempts": 3}


@contextlib.asynccontextmanager
async def stuck_after_three(
    env: WorkflowEnvironment, ctx: HubContext, fake: FakeProvider
) -> AsyncIterator[tuple[Running, str, str]]:
    """A receipt stuck after three failed attempts, its workers running: (run, measure, queue)."""
    measure_id, service_id, _ = await provider_catalog(ctx, retry=EXHAUSTED_AFTER_3)
    async with hub_workers(env, ctx, fake) as queue:
        run = await start_with_receipt(env, ctx, queue, measure_id, service_id)
        await eventually(lambda: _stuck(ctx, run.receipt_id))
        yield run, measure_id, queue


async def _ledger_adds_up(ctx: HubContext, measure_id: str) -> None:
    async with ctx.sessions() as session:
        assert ledger_adds_up(await ledger_moves(session, measure_id=measure_id))


async def _retry_stuck(
    env: WorkflowEnvironment, ctx: HubContext, answer: str, history: str
) -> tuple[FakeProvider, Running, str]:
    """A receipt stuck after three failed attempts; support retries it; the provider's status
    says `answer`. Returns the provider, the run and the measure, the workflow finished."""
    fake = FakeProvider(fail_first=3, statuses=[answer])
    measure_id, service_id, _ = await provider_catalog(ctx, retry=EXHAUSTED_AFTER_3)
    async with hub_workers(env, ctx, fake) as queue:
        run = await start_with_receipt(env, ctx, queue, measure_id, service_id)
        await eventually(lambda: _stuck(ctx, run.receipt_id))
        retry = SupportAction(run.receipt_id, "retry_now", actor="support:test")
        outcome = await run.handle.execute_update(ApplicationWorkflow.support_action, retry)
        assert outcome.message == "another attempt was started"
        status = await run.handle.result()
        await record(run.handle, history)
    assert status.status == "finished"
    row = await receipt_row(ctx, run.receipt_id)
    assert (row.state, row.stuck) == ("credited", False)
    await _ledger_adds_up(ctx, measure_id)
    return fake, run, measure_id


@pytest.mark.parametrize(
    ("answer", "credit_calls"),
    [
        ("not_found", 4),  # the provider never saw the request: the credit goes out again, once
        ("credited", 3),  # the last attempt went through, its answer lost: no call again
        ("error", 4),  # F4: the status check gets no answer: the credit goes out again all the same
    ],
)
async def test_retry_now_asks_the_provider_before_it_credits_again(
    skipping_env: WorkflowEnvironment, ctx: HubContext, answer: str, credit_calls: int
) -> None:
    fake, run, _ = await _retry_stuck(skipping_env, ctx, answer, f"application_retry_now_{answer}")
    assert (fake.status_calls, fake.calls) == (1, credit_calls)
    assert fake.applied == {run.receipt_id: 1}


async def test_a_paused_provider_makes_its_receipts_wait_not_stick(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    # 401 three times pauses the provider; its receipt waits (timers) without turning stuck;
    # an operator fixes the key and resumes the provider; the credit then goes, once.
    fake = FakeProvider(refuse_first=3)
    measure_id, service_id, provider_id = await provider_catalog(ctx, retry=EXHAUSTED_AFTER_3)
    async with hub_workers(skipping_env, ctx, fake) as queue:
        run = await start_with_receipt(skipping_env, ctx, queue, measure_id, service_id)
        await skipping_env.sleep(timedelta(minutes=10))  # waits of 1, 2 and 4 minutes
        await eventually(lambda: _paused(ctx, provider_id))
        await skipping_env.sleep(timedelta(hours=2))  # paused: no call, no stuck receipt
        assert fake.calls == 3
        row = await receipt_row(ctx, run.receipt_id)
        assert (row.state, row.stuck) == ("crediting", False)

        async with ctx.sessions.begin() as session:
            await provider_pause.resume(session, provider_id, actor="operator:test", note="key")
        status = await run.handle.result()
        await record(run.handle, "application_provider_paused_then_resumed")
    assert status.status == "finished"
    assert (fake.calls, fake.applied) == (4, {run.receipt_id: 1})
    row = await receipt_row(ctx, run.receipt_id)
    assert (row.state, row.stuck, row.stuck_since) == ("credited", False, None)
    await _ledger_adds_up(ctx, measure_id)


async def _paused(ctx: HubContext, provider_id: str) -> bool:
    async with ctx.sessions() as session:
        return await provider_pause.is_paused(session, provider_id)


async def test_a_receipt_polled_for_long_continues_as_new_and_is_credited_in_the_next_run(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    fake = FakeProvider(mode="accepted")  # the status endpoint answers pending for ever
    measure_id, service_id, provider_id = await webhook_provider(ctx, skipping_env)
    async with hub_workers(skipping_env, ctx, fake) as queue:
        run = await start_with_receipt(
            skipping_env, ctx, queue, measure_id, service_id, history_limit=60
        )
        first_run = run.handle.result_run_id
        await skipping_env.sleep(timedelta(days=3))  # polled every 6 hours at the cap
        await eventually(lambda: _polled_at_least(fake, 12))
        latest = skipping_env.client.get_workflow_handle_for(ApplicationWorkflow.run, run.handle.id)
        described = await latest.describe()
        assert described.run_id != first_run  # it continued as new while the receipt waited
        assert (await receipt_row(ctx, run.receipt_id)).state == "accepted"

        assert await send_credit_completed(ctx, provider_id, run.receipt_id) == "recorded"
        status = await latest.result()
        first = skipping_env.client.get_workflow_handle(run.handle.id, run_id=first_run)
        await record(first, "application_polled_continue_as_new_first_run")
        await record(latest, "application_polled_continue_as_new_last_run")
    assert status.status == "finished" and [r.state for r in status.receipts] == ["credited"]
    assert await grant_state(ctx, run.grant_id) == "credited"
    await _ledger_adds_up(ctx, measure_id)


async def _polled_at_least(fake: FakeProvider, calls: int) -> bool:
    return fake.status_calls >= calls


async def test_a_revocation_while_a_receipt_is_stuck_forfeits_its_points_on_return(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    fake = FakeProvider(always_fail=True, statuses=["not_found"])
    async with stuck_after_three(skipping_env, ctx, fake) as (run, measure_id, _):
        async with ctx.sessions.begin() as session:  # what services.revocation does first
            mykey = await session.get(MyKey, run.mykey_id)
            assert mykey is not None
            mykey.status = "revoked"
        await run.handle.signal(ApplicationWorkflow.revoke, "card revoked")
        back = SupportAction(run.receipt_id, "return_to_unreceived", actor="support:test")
        outcome = await run.handle.execute_update(ApplicationWorkflow.support_action, back)
        assert outcome.receipt_state == "returned"
        status = await run.handle.result()
        await record(run.handle, "application_revoked_while_stuck")
    assert status.status == "finished"
    assert await grant_state(ctx, run.grant_id) == "forfeited"
    assert fake.applied == {}
    await _ledger_adds_up(ctx, measure_id)
