"""The batch dispatcher workflow under time skipping: rounds paced by durable timers, a failing
round paused and retried without ending the loop, and continue-as-new keeping the history short;
the dispatcher and its rounds on the provider's dispatch queue, a run started on the hub's queue
(by older code) moving there. The round itself is a stand-in activity with the same name, as the
worker sees it."""

from __future__ import annotations

import itertools
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.batches import DispatchInput, DispatchResult
from adapters.providers.contract import PROVIDER_PERMANENT
from domain.providers import dispatch_queue, provider_queue
from hub.temporal import data_converter
from hub.workers import workflow_runner
from tests.support.histories import record
from workflows.batch import BatchDispatcherWorkflow, DispatcherInput


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


async def test_rounds_follow_timers_survive_failures_and_continue_as_new(
    skipping_env: WorkflowEnvironment,
) -> None:
    rounds: list[datetime] = []

    @activity.defn(name="dispatch_batches")
    async def stand_in(request: DispatchInput) -> DispatchResult:
        rounds.append(activity.info().current_attempt_scheduled_time)
        if len(rounds) == 2:
            raise ApplicationError(
                "outbox not writable", type=PROVIDER_PERMANENT, non_retryable=True
            )
        return DispatchResult(files_written=1, next_check_s=30)

    provider_id = f"batch-{uuid.uuid4().hex[:6]}"
    client = skipping_env.client
    async with _dispatch_worker(client, provider_id, stand_in):
        handle = await client.start_workflow(
            BatchDispatcherWorkflow.run,
            DispatcherInput(provider_id=provider_id, rounds_per_run=3, own_queue=True),
            id=f"batch-dispatch-{provider_id}",
            task_queue=dispatch_queue(provider_id),
        )
        first_run = handle.result_run_id
        await skipping_env.sleep(timedelta(minutes=5))
        latest = await client.get_workflow_handle(handle.id).describe()
        await record(handle, "batch_dispatcher_own_queue")  # the latest run, after continue-as-new

    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(rounds)]
    assert len(rounds) >= 6, gaps
    assert gaps[0] == pytest.approx(30, abs=2)  # the round asked to come back in 30 s
    assert gaps[1] == pytest.approx(60, abs=2)  # after a failed round: a longer pause
    assert gaps[2] == pytest.approx(30, abs=2)  # and then the loop goes on as before
    assert latest.run_id != first_run  # continued as new after three rounds
    assert latest.status is not None and latest.status.name == "RUNNING"
    assert latest.task_queue == dispatch_queue(provider_id)


async def test_a_dispatcher_started_on_the_hub_queue_moves_to_its_own(
    skipping_env: WorkflowEnvironment,
) -> None:
    """A dispatcher older code started on the hub's queue continues as new onto the provider's
    dispatch queue before its first round; every round runs there."""
    queues: list[str] = []

    @activity.defn(name="dispatch_batches")
    async def stand_in(request: DispatchInput) -> DispatchResult:
        queues.append(activity.info().task_queue)
        return DispatchResult(next_check_s=30)

    @activity.defn(name="dispatch_batches")
    async def old_place(request: DispatchInput) -> DispatchResult:  # where older code ran it
        queues.append(activity.info().task_queue)
        return DispatchResult(next_check_s=30)

    provider_id = f"batch-{uuid.uuid4().hex[:6]}"
    hub_queue = f"hub-{uuid.uuid4().hex[:6]}"
    client = skipping_env.client
    async with (
        Worker(
            client,
            task_queue=hub_queue,
            workflows=[BatchDispatcherWorkflow],
            workflow_runner=workflow_runner(sandboxed=True),
        ),
        Worker(client, task_queue=provider_queue(provider_id), activities=[old_place]),
        _dispatch_worker(client, provider_id, stand_in),
    ):
        handle = await client.start_workflow(
            BatchDispatcherWorkflow.run,
            DispatcherInput(provider_id=provider_id),
            id=f"batch-dispatch-{provider_id}",
            task_queue=hub_queue,
        )
        await skipping_env.sleep(timedelta(minutes=2))
        first_run = client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
        first = await first_run.describe()
        latest = await client.get_workflow_handle(handle.id).describe()
        await record(first_run, "batch_dispatcher_moved_to_own_queue")

    assert first.status is not None and first.status.name == "CONTINUED_AS_NEW"
    assert latest.task_queue == dispatch_queue(provider_id)
    assert latest.status is not None and latest.status.name == "RUNNING"
    assert len(queues) >= 3
    assert set(queues) == {dispatch_queue(provider_id)}


def _dispatch_worker(
    client: Client, provider_id: str, round_activity: Callable[..., Any]
) -> Worker:
    return Worker(
        client,
        task_queue=dispatch_queue(provider_id),
        workflows=[BatchDispatcherWorkflow],
        activities=[round_activity],
        workflow_runner=workflow_runner(sandboxed=True),
    )
