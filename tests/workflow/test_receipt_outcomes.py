"""Receipts that go wrong, in skipped time: lost acknowledgements, exhausted retries, support
returning points, and a 30-minute provider outage that ends with every receipt credited once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from domain.points import ledger_adds_up
from services.context import HubContext
from storage.ledger import ledger_moves
from storage.models import Grant, Receipt, ReceiptEvent
from tests.support.fake_provider import FakeProvider
from tests.support.histories import record
from tests.workflow.receipts_support import (
    hub_workers,
    provider_catalog,
    refused,
    start_with_receipt,
)
from workflows.application import ApplicationWorkflow
from workflows.messages import SupportAction
from workflows.search import STUCK


async def receipt_row(ctx: HubContext, receipt_id: str) -> Receipt:
    async with ctx.sessions() as session:
        row = await session.get(Receipt, receipt_id)
        assert row is not None
        return row


async def grant_state(ctx: HubContext, grant_id: str) -> str:
    async with ctx.sessions() as session:
        row = await session.get(Grant, grant_id)
        assert row is not None
        return row.state


async def eventually(check, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition never became true")


async def test_a_lost_acknowledgement_makes_the_receipt_stuck_until_the_provider_answers(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    fake = FakeProvider(mode="accepted", statuses=["pending", "credited"])
    measure_id, service_id, _ = await provider_catalog(ctx, ack_mode="webhook", ack_deadline_s=600)
    async with hub_workers(skipping_env, ctx, fake) as queue:
        run = await start_with_receipt(skipping_env, ctx, queue, measure_id, service_id)
        await eventually(lambda: _state_is(ctx, run.receipt_id, "accepted"))
        assert not (await receipt_row(ctx, run.receipt_id)).stuck

        await skipping_env.sleep(timedelta(seconds=700))  # past the acknowledgement deadline
        await eventually(lambda: _stuck(ctx, run.receipt_id))
        row = await receipt_row(ctx, run.receipt_id)
        assert row.stuck_reason == "no_acknowledgement" and row.state == "accepted"
        described = await run.handle.describe()
        assert described.typed_search_attributes.get(STUCK) is True

        status = await run.handle.result()  # the second status check says credited
        await record(run.handle, "application_receipt_stuck_then_recovered")
    assert status.status == "finished"
    row = await receipt_row(ctx, run.receipt_id)
    assert (row.state, row.stuck, row.stuck_reason) == ("credited", False, None)
    assert await grant_state(ctx, run.grant_id) == "credited"
    assert fake.applied == {run.receipt_id: 1}
    async with ctx.sessions() as session:
        events = (
            (
                await session.execute(
                    select(ReceiptEvent.state)
                    .where(ReceiptEvent.receipt_id == run.receipt_id)
                    .order_by(ReceiptEvent.id)
                )
            )
            .scalars()
            .all()
        )
        assert list(events) == ["requested", "crediting", "accepted", "stuck", "credited"]
        assert ledger_adds_up(await ledger_moves(session, measure_id=measure_id))


async def _state_is(ctx: HubContext, receipt_id: str, state: str) -> bool:
    return (await receipt_row(ctx, receipt_id)).state == state


async def _stuck(ctx: HubContext, receipt_id: str) -> bool:
    return (await receipt_row(ctx, receipt_id)).stuck


async def test_support_returns_points_only_when_the_provider_says_it_did_not_credit(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    fake = FakeProvider(always_fail=True, statuses=["pending", "not_found"])
    measure_id, service_id, _ = await provider_catalog(
        ctx, retry={"initial_interval_s": 1, "max_interval_s": 2, "max_attempts": 3}
    )
    async with hub_workers(skipping_env, ctx, fake) as queue:
        run = await start_with_receipt(skipping_env, ctx, queue, measure_id, service_id)
        await eventually(lambda: _stuck(ctx, run.receipt_id))
        row = await receipt_row(ctx, run.receipt_id)
        assert row.stuck_reason == "attempts_exhausted"
        assert row.attempts == 3 and "503" in (row.last_error or "")

        action = SupportAction(run.receipt_id, "return_to_unreceived", actor="support:test")
        await refused(
            run.handle.execute_update(ApplicationWorkflow.support_action, action),
            "pending",
            "the points were returned while the provider said pending",
        )
        assert await grant_state(ctx, run.grant_id) == "crediting"

        outcome = await run.handle.execute_update(ApplicationWorkflow.support_action, action)
        assert (outcome.provider_status, outcome.receipt_state) == ("not_found", "returned")
        assert await grant_state(ctx, run.grant_id) == "unreceived"
        row = await receipt_row(ctx, run.receipt_id)
        assert (row.state, row.stuck) == ("returned", False)
        async with ctx.sessions() as session:
            assert ledger_adds_up(await ledger_moves(session, measure_id=measure_id))
        await run.handle.terminate("test over")
        await record(run.handle, "application_support_return")
    assert fake.applied == {}


async def test_a_thirty_minute_outage_ends_with_every_receipt_credited_once(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    start = await skipping_env.get_current_time()
    fake = FakeProvider(down_until=start + timedelta(minutes=30))
    measure_id, service_id, _ = await provider_catalog(
        ctx,
        retry={"initial_interval_s": 1, "backoff": 2, "max_interval_s": 300, "max_attempts": 100},
    )
    async with hub_workers(skipping_env, ctx, fake) as queue:
        runs = [
            await start_with_receipt(skipping_env, ctx, queue, measure_id, service_id)
            for _ in range(5)
        ]
        results = [await r.handle.result() for r in runs]
        finished = await skipping_env.get_current_time()
    assert [r.status for r in results] == ["finished"] * 5
    assert finished - start >= timedelta(minutes=30)
    assert fake.applied == {r.receipt_id: 1 for r in runs}
    for run in runs:
        row = await receipt_row(ctx, run.receipt_id)
        assert row.state == "credited"
        # Back-off: 1, 2, 4 … 256 s, then every 300 s: about 15 attempts over 30 minutes,
        # where a fixed one-second retry would have made about 1,800.
        assert 10 <= row.attempts <= 20, row.attempts
    async with ctx.sessions() as session:
        assert ledger_adds_up(await ledger_moves(session, measure_id=measure_id))
