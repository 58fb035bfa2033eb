"""Long-running processes: API, worker, simulator. Each stops cleanly on SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence

import uvicorn

from adapters.providers.registry import AdapterRegistry
from hub.settings import Settings
from hub.telemetry import configure_tracing, temporal_interceptors
from hub.temporal import connect
from hub.workers import HubWorkers, WorkerOptions
from storage.database import create_engine, session_factory


def serve_api(settings: Settings, host: str, port: int) -> None:
    from api.app import create_app

    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )


def serve_sim(config_path: str, host: str, port: int) -> None:
    from pathlib import Path

    from simulators.providers import create_sim_app, load_configs

    app = create_sim_app(load_configs(Path(config_path)))
    uvicorn.run(app, host=host, port=port, log_level="warning")


async def run_worker(settings: Settings, queues: Sequence[str] | None, sandboxed: bool) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    configure_tracing(settings, "mph-worker")
    client = await connect(settings, interceptors=temporal_interceptors())
    engine = create_engine(settings.effective_database_url)
    registry = AdapterRegistry()
    workers = HubWorkers(
        client,
        session_factory(engine),
        registry,
        WorkerOptions(task_queue=settings.task_queue, sandboxed=sandboxed),
        queues=queues,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await workers.run(stop)
    finally:
        await registry.aclose()
        await engine.dispose()
