"""The worker of the no-op limit: `python -m bench.noop_worker <address> <task queue>`.

A workflow that returns at once, on an unsandboxed runner, so what is measured is the round
trips of the Temporal server (start, one workflow task, completion), not the worker's Python.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from hub.exit import exit_process


@workflow.defn(name="Noop")
class NoopWorkflow:
    @workflow.run
    async def run(self) -> None:
        return None


async def main(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[NoopWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
        max_concurrent_workflow_tasks=200,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
    exit_process(0)
