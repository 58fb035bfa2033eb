"""The baseline's worker process: `python -m bench.baseline.worker`.

One `Worker` on one task queue (`HUB_TASK_QUEUE`) with the default options and the default
sandboxed runner, as the samples start theirs. It reads the same `HUB_*` settings as the hub's
worker and uses the hub's Temporal client set-up (`hub.temporal.connect`), so both speak to the
server with the same data converter. A loop starts the dispatcher of each batch provider, and
the hub's audit sealer runs beside it as it does in `mph worker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

from adapters.providers.registry import AdapterRegistry
from bench.baseline.activities import BaselineActivities
from bench.baseline.workflows import (
    BaselineApplicationWorkflow,
    BaselineBatchDispatcherWorkflow,
    BaselineMeasureWorkflow,
)
from hub.audit_sealer import run_sealer
from hub.exit import exit_process
from hub.logs import configure_logging
from hub.search_attributes import ensure_search_attributes
from hub.settings import get_settings
from hub.temporal import connect
from storage.catalog import all_providers
from storage.database import SessionFactory, create_engine, session_factory

log = logging.getLogger("bench.baseline")


async def start_dispatchers(client: Client, sessions: SessionFactory, task_queue: str) -> None:
    async with sessions() as session:
        providers = await all_providers(session)
    for provider in providers:
        if provider.adapter == "batch_file":
            await client.start_workflow(
                BaselineBatchDispatcherWorkflow.run,
                provider.id,
                id=f"baseline-dispatch-{provider.id}",
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )


async def main() -> None:
    settings = get_settings()
    configure_logging("mph-baseline-worker", fmt=settings.log_format, level=settings.log_level)
    client = await connect(settings)
    # The API (the hub's, shared by every variant) starts workflows with the hub's labels.
    await ensure_search_attributes(client)
    engine = create_engine(settings.effective_database_url)
    sessions = session_factory(engine)
    registry = AdapterRegistry()
    activities = BaselineActivities(
        sessions, registry, client, settings.token_secret.get_secret_value().encode()
    )
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[
            BaselineApplicationWorkflow,
            BaselineMeasureWorkflow,
            BaselineBatchDispatcherWorkflow,
        ],
        activities=activities.all(),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    running = asyncio.create_task(worker.run())
    sealer = asyncio.create_task(
        run_sealer(
            sessions,
            settings.audit_hmac_key.get_secret_value().encode(),
            stop,
            interval_s=settings.audit_seal_interval_s,
        )
    )
    log.info("baseline worker started on %s", settings.task_queue)
    try:
        while not stop.is_set() and not running.done():
            await start_dispatchers(client, sessions, settings.task_queue)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=2)
    finally:
        stop.set()
        await sealer
        await worker.shutdown()
        with contextlib.suppress(Exception):
            await running
        await registry.aclose()
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
    exit_process(0)
