"""The machine's ceilings, measured beside every scenario.

- Workflows: a fresh dev server with the hub's arguments (its own database file, WAL pragmas),
  a worker process with a workflow that returns at once, and `workflows` of them started and
  awaited from here with `concurrency` in flight: completed no-op workflows per second. No
  lifecycle can be carried faster than its workflow starts and tasks are.
- PostgreSQL: single-row INSERT transactions committed per second on a fresh database of the
  same server, by pgbench (installed with PostgreSQL), with 1 client and with 8; a psycopg loop
  of the same statement when pgbench is missing.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from temporalio.api.enums.v1 import TaskQueueType

from bench.databases import is_sqlite, scratch_postgres
from bench.processes import Children, free_port, python_env
from bench.stack import wait_for_pollers
from hub.devserver import start_dev_server
from hub.settings import Settings
from hub.temporal import connect

PGBENCH_SCRIPT = "INSERT INTO bench_commits (at, note) VALUES (now(), 'one row');\n"


async def noop_workflows(workflows: int = 2000, concurrency: int = 100) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="mph-bench-limit-"))
    children = Children(directory)
    try:
        port = free_port()
        log = directory / "temporal.log"
        server = start_dev_server(directory / "temporal.db", port=port, ui_port=None, log_file=log)
        children.adopt("temporal", server, log, "temporal")
        address = f"127.0.0.1:{port}"
        client = await connect(Settings(temporal_address=address), wait_s=60)
        children.python("noop-worker", ["bench.noop_worker", address, "noop"], python_env({}))
        await wait_for_pollers(client, [("noop", TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)], children)
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int) -> None:
            async with gate:
                await client.execute_workflow("Noop", id=f"noop-{index}", task_queue="noop")

        await asyncio.gather(*(one(i) for i in range(min(200, workflows))))  # warm-up
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(200, 200 + workflows)))
        elapsed = time.perf_counter() - started
        return {
            "workflows": workflows,
            "concurrency": concurrency,
            "seconds": round(elapsed, 2),
            "workflows_per_s": round(workflows / elapsed, 1),
        }
    finally:
        children.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _pgbench(url: str, clients: int, seconds: int, script: Path) -> float:
    done = subprocess.run(
        [
            "pgbench",
            "-n",
            "-f",
            str(script),
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(seconds),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    found = re.search(r"tps = ([0-9.]+)", done.stdout)
    if not found:
        raise RuntimeError(f"pgbench printed no tps:\n{done.stdout}\n{done.stderr}")
    return float(found.group(1))


def _psycopg_loop(url: str, seconds: float) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            conn.execute(PGBENCH_SCRIPT)
            count += 1
        return count / (time.perf_counter() - started)


def postgres_commits(
    server: str, seconds: int = 10, clients: tuple[int, ...] = (1, 8)
) -> dict[str, Any]:
    if is_sqlite(server):
        return {"skipped": "the run's database is SQLite"}
    with scratch_postgres(server, prefix="hub_bench_limit") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE bench_commits (id bigserial PRIMARY KEY, at timestamptz, note text)"
            )
        if shutil.which("pgbench") is None:
            rate = _psycopg_loop(url, seconds)
            return {"tool": "psycopg loop", "seconds": seconds, "commits_per_s": {"1": round(rate)}}
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "commit.sql"
            script.write_text(PGBENCH_SCRIPT)
            rates = {str(c): round(_pgbench(url, c, seconds, script)) for c in clients}
        return {"tool": "pgbench", "seconds": seconds, "commits_per_s": rates}
