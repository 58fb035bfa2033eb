"""Scale-out on one Temporal server and one PostgreSQL: two `mph api` and several `mph worker`
processes, each a separate OS process on real ports, carry lifecycles between them; a worker
stopped with SIGTERM finishes its in-flight credits, or hands them back when its grace runs out,
and no credit is lost or applied twice."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.drills.cluster import (
    Cluster,
    Journey,
    Provider,
    assert_credited_exactly_once,
    hub_books,
    new_journey,
    onboard,
    wait_credited,
    wait_http,
)
from tests.support.databases import fresh_database, postgres_server_url
from tests.support.servers import free_port

pytestmark = pytest.mark.skipif(
    postgres_server_url() is None,
    reason="HUB_TEST_DATABASE_URL is not set: scale-out needs one shared PostgreSQL",
)


class Stack:
    def __init__(self, cluster: Cluster, measure_id: str) -> None:
        self.cluster = cluster
        self.measure_id = measure_id
        providers = list(cluster.providers.values())
        self.fast, self.slow, self.stalling = providers


@pytest.fixture(scope="module")
async def stack(temporal_env: WorkflowEnvironment, session_tmp: Path) -> AsyncIterator[Stack]:
    tmp = session_tmp / "scale-out"
    tmp.mkdir(exist_ok=True)
    with fresh_database(tmp, backend="postgresql") as url:
        cluster = Cluster(tmp, url, temporal_env.client.service_client.config.target_host)
        cluster.add_provider(latency_ms=0)
        cluster.add_provider(latency_ms=2000)  # credits still in flight when SIGTERM arrives
        cluster.add_provider(latency_ms=6000)  # credits outlast a short shutdown grace
        try:
            await cluster.start_sim()
            await asyncio.gather(cluster.start_api(), cluster.start_api())
            async with cluster.http(0) as http:
                measure_id = await onboard(http, cluster)
            # The workflows and their database steps on one process, provider calls on another.
            probe_port = free_port()
            hub_worker = cluster.start_worker(
                "worker-hub", cluster.task_queue, HUB_METRICS_PORT=str(probe_port)
            )
            cluster.start_worker("worker-providers-1", "provider-*")
            await wait_http(f"http://127.0.0.1:{probe_port}/readyz", hub_worker)
            yield Stack(cluster, measure_id)
        finally:
            cluster.stop_all()


async def journeys_through_both_apis(stack: Stack, provider: Provider, count: int) -> list[Journey]:
    cluster = stack.cluster
    async with cluster.http(0) as first, cluster.http(1) as second:
        journeys = [new_journey(cluster, first) for _ in range(count)]

        async def walk(journey: Journey) -> None:
            await journey.via(first).resident.login()
            journey.via(second)  # the session made by one replica is honoured by the other
            await journey.login_apply_register(stack.measure_id, provider.payment_service_id)

        await asyncio.gather(*(walk(j) for j in journeys))
    return journeys


async def in_flight(stack: Stack, journeys: list[Journey], seconds: float = 30) -> None:
    """Until every receipt's credit activity has started (an attempt is recorded) and none ended."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        books, _ = await hub_books(stack.cluster.database_url, stack.measure_id)
        rows = [books.receipts.get(j.receipt_id) for j in journeys]
        if all(r is not None and r.attempts >= 1 for r in rows):
            assert all(r is not None and r.finished_at is None for r in rows), "too late"
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the credits never started")


async def test_lifecycles_complete_across_two_apis_and_two_workers(stack: Stack) -> None:
    cluster = stack.cluster
    journeys = await journeys_through_both_apis(stack, stack.fast, 6)
    async with cluster.http(0) as first, cluster.http(1) as second:
        for index, journey in enumerate(journeys):
            await journey.via(first if index % 2 else second).request_receipt()
        for index, journey in enumerate(journeys):
            journey.via(second if index % 2 else first)
        await wait_credited(journeys, seconds=60)

    await assert_credited_exactly_once(cluster, journeys, stack.fast)
    books, adds_up = await hub_books(cluster.database_url, stack.measure_id)
    assert adds_up
    assert {books.receipts[j.receipt_id].state for j in journeys} == {"credited"}
    assert all(p.alive for p in cluster.procs), [p.name for p in cluster.procs if not p.alive]
    # The provider worker's JSON log lines of the credit calls carry their trace.
    [providers] = [p for p in cluster.procs if p.name == "worker-providers-1"]
    lines = [json.loads(line) for line in providers.output().splitlines() if line.startswith("{")]
    calls = [e for e in lines if "/credits" in e["message"]]
    assert calls and all(len(e.get("trace_id", "")) == 32 for e in calls)


async def test_sigterm_lets_in_flight_credits_finish(stack: Stack) -> None:
    cluster = stack.cluster
    [worker] = [p for p in cluster.procs if p.name == "worker-providers-1"]
    journeys = await journeys_through_both_apis(stack, stack.slow, 4)
    async with cluster.http(0) as http:
        for journey in journeys:
            await journey.via(http).request_receipt()
        await in_flight(stack, journeys)

        started = time.monotonic()
        code = await asyncio.to_thread(worker.stop)
        stopped_after = time.monotonic() - started
        # Later work goes to another worker that leaves the stalling provider alone.
        cluster.start_worker(
            "worker-providers-2",
            f"provider-{stack.fast.provider_id},provider-{stack.slow.provider_id}",
        )
        await wait_credited(journeys, seconds=60)

    assert code == 0, worker.output()[-2000:]
    assert 1.0 < stopped_after < 20.0  # it waited for the 2 s credits, within its grace
    assert "SIGTERM: polling stops" in worker.output()
    credits = await assert_credited_exactly_once(cluster, journeys, stack.slow)
    books, adds_up = await hub_books(cluster.database_url, stack.measure_id)
    assert adds_up
    for journey in journeys:
        # Finished by the stopping worker on its first attempt: nothing was retried.
        assert books.receipts[journey.receipt_id].attempts == 1
        assert credits[journey.receipt_id]["requests"] == 1


async def test_sigterm_past_the_grace_hands_credits_back(stack: Stack) -> None:
    cluster = stack.cluster
    stalling = stack.stalling
    worker = cluster.start_worker(
        "worker-stalling-1", f"provider-{stalling.provider_id}", HUB_WORKER_SHUTDOWN_GRACE_S="1"
    )
    journeys = await journeys_through_both_apis(stack, stalling, 3)
    async with cluster.http(1) as http:
        for journey in journeys:
            await journey.via(http).request_receipt()
        await in_flight(stack, journeys)
        code = await asyncio.to_thread(worker.stop)
        cluster.start_worker("worker-stalling-2", f"provider-{stalling.provider_id}")
        await wait_credited(journeys, seconds=120)

    assert code == 0, worker.output()[-2000:]
    credits = await assert_credited_exactly_once(cluster, journeys, stalling)
    books, adds_up = await hub_books(cluster.database_url, stack.measure_id)
    assert adds_up
    for journey in journeys:
        # Handed back and attempted again by the other worker, still applied exactly once.
        assert books.receipts[journey.receipt_id].attempts >= 2
        assert credits[journey.receipt_id]["requests"] >= 2
