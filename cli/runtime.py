"""Long-running processes: API, worker, simulator. Each stops cleanly on SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import uvicorn

from adapters.providers.registry import AdapterRegistry
from hub.logs import configure_logging
from hub.metrics import configure_metrics, install_temporal_runtime
from hub.probes import ProbeServer
from hub.settings import Settings
from hub.telemetry import configure_tracing, temporal_interceptors
from hub.temporal import connect
from hub.workers import HubWorkers, WorkerOptions
from storage.database import create_engine, session_factory
from storage.migrate import check_schema

log = logging.getLogger("hub.worker")


def observe_process(settings: Settings, service: str) -> None:
    """Logs, traces and metrics of one process, before it builds anything that uses them."""
    configure_logging(service, fmt=settings.log_format, level=settings.log_level)
    configure_tracing(settings, service)
    configure_metrics(settings, service)
    install_temporal_runtime(settings, service)


def serve_api(settings: Settings, host: str, port: int) -> None:
    from api.app import create_app

    observe_process(settings, "mph-api")
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="warning",
        log_config=None,  # uvicorn's loggers go through the hub's redacting handler
        timeout_graceful_shutdown=10,
    )


def serve_sim(
    config_path: str,
    host: str,
    port: int,
    *,
    tls_cert: str = "",
    tls_key: str = "",
    tls_client_ca: str = "",
) -> None:
    import ssl
    from pathlib import Path

    from simulators.providers import create_sim_app, load_configs

    app = create_sim_app(load_configs(Path(config_path)))
    tls: dict[str, Any] = {}
    if tls_cert:
        tls = {"ssl_certfile": tls_cert, "ssl_keyfile": tls_key or None}
        if tls_client_ca:
            tls |= {"ssl_ca_certs": tls_client_ca, "ssl_cert_reqs": ssl.CERT_REQUIRED}
    uvicorn.run(app, host=host, port=port, log_level="warning", **tls)


async def run_worker(settings: Settings, queues: Sequence[str] | None, sandboxed: bool) -> None:
    observe_process(settings, "mph-worker")
    client = await connect(settings, interceptors=temporal_interceptors())
    engine = create_engine(settings.effective_database_url, pool_size=settings.database_pool_size)
    await check_schema(engine)  # never work on a database short of a migration
    probes = ProbeServer(settings, client, session_factory(engine))
    if settings.metrics_port:
        await probes.start()
    registry = AdapterRegistry(require_https=settings.is_production)
    workers = HubWorkers(
        client,
        session_factory(engine),
        registry,
        WorkerOptions(
            task_queue=settings.task_queue,
            sandboxed=sandboxed,
            graceful_shutdown=timedelta(seconds=settings.worker_shutdown_grace_s),
            max_cached_workflows=settings.worker_cached_workflows,
            id_secret=settings.token_secret.get_secret_value().encode(),
            review_policy=settings.review_policy,
            attendance_grace=timedelta(seconds=settings.attendance_grace_s),
            audit_key=settings.audit_hmac_key.get_secret_value().encode(),
            audit_seal_interval_s=settings.audit_seal_interval_s,
        ),
        queues=queues,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        log.info(
            "%s: polling stops; in-flight activities finish within %.0f s or go back to the server",
            sig.name,
            settings.worker_shutdown_grace_s,
        )
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    log.info("worker started", extra={"queues": ",".join(queues or ["*"])})
    try:
        await workers.run(stop)
    finally:
        await probes.stop()
        await registry.aclose()
        await engine.dispose()
        log.info("worker stopped")
