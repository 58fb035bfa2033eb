"""Restart drills: the Temporal server (persistent file) and PostgreSQL are restarted while
credits are in flight. Every lifecycle still completes, no receipt is credited twice at the
provider, and the hub's points ledger adds up.

The hub runs as separate `mph api`, `mph worker` and `mph sim` processes, as in production; the
residents before the restart and those after it share the same processes, which reconnect on
their own.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from hub.devserver import start_dev_server
from hub.settings import Settings
from hub.temporal import connect
from storage.migrate import upgrade
from tests.drills.cluster import (
    Cluster,
    Journey,
    assert_credited_exactly_once,
    hub_books,
    new_journey,
    onboard,
    retrying,
    wait_credited,
)
from tests.drills.postgres import private_postgres, server_bin_dir
from tests.support.databases import fresh_database
from tests.support.servers import free_port

RESIDENTS_BEFORE = 4
RESIDENTS_AFTER = 4
LATENCY_MS = 1500  # long enough for credits to be in flight when the restart comes


async def credits_in_flight(cluster: Cluster, measure_id: str, journeys: list[Journey]) -> None:
    """Until every credit has started; the drill proves nothing unless some are still running."""
    for _ in range(300):
        books, _ = await hub_books(cluster.database_url, measure_id)
        rows = [books.receipts.get(j.receipt_id) for j in journeys]
        if all(r is not None and r.attempts >= 1 for r in rows):
            assert any(r is not None and r.finished_at is None for r in rows), "too late"
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the credits never started")


async def drill(cluster: Cluster, restart: Callable[[], Awaitable[None]]) -> None:
    """Residents before, a restart while their credits are in flight, residents after."""
    provider = cluster.add_provider(latency_ms=LATENCY_MS)
    await cluster.start_sim()
    await cluster.start_api()
    async with cluster.http() as http:
        measure_id = await onboard(http, cluster)
        cluster.start_worker("worker")
        before = [new_journey(cluster, http) for _ in range(RESIDENTS_BEFORE)]
        after = [new_journey(cluster, http) for _ in range(RESIDENTS_AFTER)]
        for journey in before:
            await journey.login_apply_register(measure_id, provider.payment_service_id)
            await journey.request_receipt()
        await credits_in_flight(cluster, measure_id, before)

        await restart()

        for journey in after:
            await retrying(
                lambda j=journey: j.login_apply_register(measure_id, provider.payment_service_id)
            )
            await retrying(journey.request_receipt)
        everyone = before + after
        await wait_credited(everyone, seconds=150)

    await assert_credited_exactly_once(cluster, everyone, provider)
    books, adds_up = await hub_books(cluster.database_url, measure_id)
    assert adds_up, "the points ledger does not add up"
    assert {books.receipts[j.receipt_id].state for j in everyone} == {"credited"}
    assert len(books.receipts) == len(everyone)
    worker = next(p for p in cluster.procs if p.name == "worker")
    assert worker.alive, worker.output()[-3000:]


async def test_temporal_server_restarted_mid_run(session_tmp: Path) -> None:
    tmp = session_tmp / "temporal-drill"
    tmp.mkdir(exist_ok=True)
    db_file, port = tmp / "temporal.db", free_port()
    address = f"127.0.0.1:{port}"

    def start() -> subprocess.Popen[bytes]:
        return start_dev_server(db_file, port=port, ui_port=None, log_file=tmp / "temporal.log")

    server = start()
    await connect(Settings(temporal_address=address), wait_s=60)

    async def restart() -> None:
        nonlocal server
        server.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.wait, 30)
        async with cluster.http() as http:  # the API says so while the server is away
            ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["temporal"] != "ok"
        await asyncio.sleep(2)  # the hub is without its workflow service for a while
        server = start()
        await connect(Settings(temporal_address=address), wait_s=60)

    with fresh_database(tmp) as url:
        cluster = Cluster(tmp, url, address)
        try:
            await drill(cluster, restart)
        finally:
            cluster.stop_all()
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


@pytest.mark.skipif(
    server_bin_dir() is None, reason="PostgreSQL server binaries (initdb, pg_ctl) not installed"
)
async def test_postgresql_restarted_mid_run(
    temporal_env: WorkflowEnvironment, session_tmp: Path
) -> None:
    tmp = session_tmp / "postgres-drill"
    tmp.mkdir(exist_ok=True)
    with private_postgres() as postgres:
        url = postgres.create_database("hub")
        await asyncio.to_thread(upgrade, url)
        cluster = Cluster(tmp, url, temporal_env.client.service_client.config.target_host)

        async def restart() -> None:
            started_before = await postgres.started_at()
            await asyncio.to_thread(postgres.restart)
            assert await postgres.started_at() > started_before  # a new server, connections cut

        try:
            await drill(cluster, restart)
        finally:
            cluster.stop_all()
