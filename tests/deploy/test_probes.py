"""The worker's probe port answers liveness, readiness and scrapes over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from hub.probes import ProbeServer
from hub.settings import Settings
from storage.database import create_engine, session_factory
from tests.support.databases import fresh_database


async def test_probes_report_liveness_readiness_and_metrics(
    temporal_env: WorkflowEnvironment, session_tmp: Path
) -> None:
    settings = Settings(metrics_port=0, metrics_exporter="prometheus")
    with fresh_database(session_tmp, backend="sqlite") as url:
        engine = create_engine(url)
        probes = ProbeServer(settings, temporal_env.client, session_factory(engine))
        port = await probes.start(host="127.0.0.1")
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                assert (await http.get("/healthz")).json() == {"status": "ok"}
                ready = await http.get("/readyz")
                assert ready.status_code == 200
                assert ready.json() == {"status": "ready", "database": "ok", "temporal": "ok"}
                scrape = await http.get("/metrics")
                assert scrape.status_code == 200
                assert scrape.headers["content-type"].startswith("text/plain")
                assert (await http.get("/nothing")).status_code == 404
        finally:
            await probes.stop()
            await engine.dispose()


async def test_a_worker_without_its_database_is_not_ready(
    temporal_env: WorkflowEnvironment,
) -> None:
    engine = create_engine("postgresql://hub@127.0.0.1:1/hub")  # nothing listens there
    probes = ProbeServer(Settings(metrics_port=0), temporal_env.client, session_factory(engine))
    port = await probes.start(host="127.0.0.1")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            body = ready.json()
            assert body["status"] == "not_ready" and body["temporal"] == "ok"
            assert body["database"].startswith("unreachable")
            # Without the Prometheus exporter there is nothing to scrape.
            assert (await http.get("/metrics")).status_code == 404
    finally:
        await probes.stop()
        await engine.dispose()
