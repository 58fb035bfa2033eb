"""The measure workflow on the time-skipping test server: auto-grant in batches within the
budget, targets added later, and expiry of everything unreceived at the receipt deadline."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.measures import MeasureActivities
from api.app import build_context
from domain.points import GrantState, ledger_adds_up
from hub.settings import Environment, Settings
from hub.temporal import data_converter
from hub.workers import workflow_runner
from services.applications import application_ids
from services.context import HubContext
from storage import applications, targets
from storage.ledger import ledger_moves, move_grant
from storage.models import Application, Grant, LedgerEntry, Measure
from tests.support.databases import fresh_database
from tests.support.direct import new_resident, seed_catalog
from tests.support.histories import record
from workflows.measure import MeasureInput, MeasureProgress, MeasureWorkflow

QUEUE = "measure-test"


@pytest.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    path = shutil.which("temporal-test-server") or str(
        Path(__file__).parents[2] / ".venv/bin/temporal-test-server"
    )
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=data_converter()
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[HubContext]:
    with fresh_database(tmp_path, backend="sqlite") as url:
        context = build_context(Settings(env=Environment.TEST, database_url=url))
        try:
            yield context
        finally:
            await context.engine.dispose()


async def listed(ctx: HubContext, measure_id: str, count: int) -> list[str]:
    mykey_ids = [await new_resident(ctx) for _ in range(count)]
    async with ctx.sessions.begin() as session:
        await targets.add_targets(session, measure_id, mykey_ids)
    return mykey_ids


async def progress_when(
    handle: WorkflowHandle, done: Callable[[MeasureProgress], bool], attempts: int = 200
) -> MeasureProgress:
    for _ in range(attempts):
        progress = await handle.query(MeasureWorkflow.status)
        if done(progress):
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError(f"the measure workflow never got there: {progress}")


async def test_auto_grant_in_batches_then_expiry_at_the_deadline(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    deadline = datetime.now(UTC) + timedelta(days=30)
    catalog = await seed_catalog(
        ctx,
        target_list_only=True,
        auto_grant=True,
        budget_points=10_000,
        receipt_deadline=deadline,
    )
    measure_id = catalog.measure_id
    first = await listed(ctx, measure_id, 8)
    activities = MeasureActivities(ctx.sessions, ctx.id_secret)
    async with Worker(
        skipping_env.client,
        task_queue=QUEUE,
        workflows=[MeasureWorkflow],
        activities=[activities.grant_targets, activities.expire_measure_grants],
        workflow_runner=workflow_runner(sandboxed=True),
    ):
        handle = await skipping_env.client.start_workflow(
            MeasureWorkflow.run,
            MeasureInput(measure_id, auto_grant=True, receipt_deadline=deadline, batch_size=3),
            id=f"measure-{measure_id}",
            task_queue=QUEUE,
        )
        progress = await progress_when(handle, lambda p: p.granted == 8)
        assert progress.grant_batches == 3 and not progress.budget_exhausted

        later = await listed(ctx, measure_id, 4)
        await handle.signal(MeasureWorkflow.targets_added)
        progress = await progress_when(handle, lambda p: p.budget_exhausted)
        assert progress.granted == 10 and progress.granted_points == 10_000

        async with ctx.sessions.begin() as session:
            rows = (await session.execute(select(Application))).scalars().all()
            assert len(rows) == 10
            for row in rows:  # the same IDs a resident's own application would get
                assert (row.id, row.workflow_id) == application_ids(ctx, measure_id, row.mykey_id)
            assert {r.mykey_id for r in rows} <= set(first + later)
            measure = await session.get(Measure, measure_id)
            assert measure is not None and measure.budget_used == 10_000
            grants = (await session.execute(select(Grant).order_by(Grant.id))).scalars().all()
            # one resident asks to receive; another's application workflow expires first
            assert await move_grant(
                session, grants[0], GrantState.RECEIPT_REQUESTED, actor="t", now=datetime.now(UTC)
            )
            await applications.expire_unreceived(
                session, application_id=grants[1].application_id, now=deadline, actor="t"
            )

        before = await skipping_env.get_current_time()
        result = await handle.result()  # time skips to the receipt deadline
        after = await skipping_env.get_current_time()
        await record(handle, "measure_auto_grant_deadline")

    assert after - before >= timedelta(days=29)
    assert result.finished and result.deadline_passed
    assert (result.expired, result.expired_points) == (8, 8000)
    async with ctx.sessions() as session:
        states = dict(
            (await session.execute(select(Grant.state, func.count()).group_by(Grant.state))).all()
        )
        assert states == {"receipt_requested": 1, "expired": 9}
        expiry_lines = await session.execute(
            select(func.count()).where(LedgerEntry.to_state == "expired")
        )
        assert expiry_lines.scalar_one() == 9  # none written twice
        assert ledger_adds_up(await ledger_moves(session, measure_id=measure_id))


async def test_a_measure_without_auto_grant_only_waits_for_its_deadline(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    deadline = datetime.now(UTC) + timedelta(days=20)
    catalog = await seed_catalog(ctx, receipt_deadline=deadline)
    activities = MeasureActivities(ctx.sessions, ctx.id_secret)
    async with Worker(
        skipping_env.client,
        task_queue=QUEUE,
        workflows=[MeasureWorkflow],
        activities=[activities.grant_targets, activities.expire_measure_grants],
        workflow_runner=workflow_runner(sandboxed=True),
    ):
        handle = await skipping_env.client.start_workflow(
            MeasureWorkflow.run,
            MeasureInput(catalog.measure_id, auto_grant=False, receipt_deadline=deadline),
            id=f"measure-{catalog.measure_id}",
            task_queue=QUEUE,
        )
        await handle.signal(MeasureWorkflow.targets_added)  # ignored: nothing to grant
        result = await handle.result()
    assert (result.granted, result.grant_batches, result.expired) == (0, 0, 0)
    assert result.finished


async def test_a_long_list_continues_as_new_with_its_progress(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    deadline = datetime.now(UTC) + timedelta(days=20)
    catalog = await seed_catalog(
        ctx, target_list_only=True, auto_grant=True, receipt_deadline=deadline
    )
    await listed(ctx, catalog.measure_id, 9)
    activities = MeasureActivities(ctx.sessions, ctx.id_secret)
    async with Worker(
        skipping_env.client,
        task_queue=QUEUE,
        workflows=[MeasureWorkflow],
        activities=[activities.grant_targets, activities.expire_measure_grants],
        workflow_runner=workflow_runner(sandboxed=True),
    ):
        handle = await skipping_env.client.start_workflow(
            MeasureWorkflow.run,
            MeasureInput(
                catalog.measure_id,
                auto_grant=True,
                receipt_deadline=deadline,
                batch_size=2,
                batches_per_run=2,
            ),
            id=f"measure-{catalog.measure_id}",
            task_queue=QUEUE,
        )
        result = await handle.result()
        first_run = skipping_env.client.get_workflow_handle(
            handle.id, run_id=handle.first_execution_run_id
        )
        first_history = await first_run.fetch_history()

    assert (result.granted, result.grant_batches, result.expired) == (9, 5, 9)
    assert result.finished and result.cursor == ""
    last_event = first_history.events[-1]
    assert last_event.HasField("workflow_execution_continued_as_new_event_attributes")
    async with ctx.sessions() as session:
        count = await session.execute(
            select(func.count()).where(Application.measure_id == catalog.measure_id)
        )
        assert count.scalar_one() == 9
        assert ledger_adds_up(await ledger_moves(session, measure_id=catalog.measure_id))
