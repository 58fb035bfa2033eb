"""One benchmark stack: every process of the hub (or of the baseline, or of the direct floor:
the hub's API with `HUB_ORCHESTRATION=direct` and `bench/direct_worker.py`) on this machine.

A Temporal dev server with its own database file in WAL mode (the arguments of
`hub/devserver.py`), a fresh migrated database, the provider simulator (`mph sim`, three
providers: sync, webhook and batch file, each with the same latency), the workers and the API
(`mph worker`, `mph api`), all as separate processes on free loopback ports. The stack is ready
when the API answers `/readyz`, the catalog is onboarded through the operator API and every task
queue the variant uses has a poller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from adapters.signing import new_secret
from bench.databases import connection_headroom, fresh_database, is_sqlite
from bench.onboarding import Catalog, onboard
from bench.processes import Children, free_port, python_env, wait_http
from domain.providers import dispatch_queue, provider_queue
from hub.devserver import start_dev_server
from hub.settings import Settings
from hub.temporal import connect
from simulators.providers import SimProviderConfig

VARIANTS = ("hub", "baseline", "direct")
SIM_MODES = ("sync", "webhook", "batch")
NO_LIMIT = "1000000/minute"  # every resident of a run comes from one loopback address
# Connections a process may open: the default pool of 10 + 10 overflow (`create_engine`), twice.
POOL_PER_PROCESS = 40
CONNECTION_WAIT_S = 900


@dataclass
class StackOptions:
    variant: str = "hub"
    database: str = "sqlite"  # a PostgreSQL server URL, or "sqlite"
    provider_latency_ms: int = 50
    hub_workers: int = 1  # `mph worker` processes (hub variant)
    # `mph worker --queues provider-*` processes (hub variant), as deployed: the hub's workers
    # then serve only the hub queue; 0: every worker serves every queue
    provider_workers: int = 0
    worker_args: tuple[str, ...] = ()  # extra `mph worker` options, e.g. --no-sandbox
    apis: int = 1  # `mph api` processes, each on its own port
    keep: bool = False  # keep the run directory (logs, databases) afterwards
    # how long to wait for free PostgreSQL connections before starting anyway (a small run's
    # pools never fill up, so its test does not wait for other clients to let go)
    connection_wait_s: float = CONNECTION_WAIT_S


@dataclass
class Stack:
    options: StackOptions
    directory: Path
    database_url: str
    temporal_address: str
    sim_url: str
    api_urls: list[str]
    operator_key: str
    task_queue: str
    env: dict[str, str]
    children: Children
    client: Client
    sims: list[SimProviderConfig]
    catalog: Catalog | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def variant(self) -> str:
        return self.options.variant

    def http(self, timeout: float = 120) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.api_urls[0], timeout=timeout)

    def sim_config(self, mode: str) -> SimProviderConfig:
        return next(s for s in self.sims if s.mode == mode)

    def driver(self, name: str, module: str, plan: dict[str, object]) -> tuple[Path, Path]:
        """Start a driver process (`python -m <module> plan.json out.json`) with the stack's
        environment; returns (plan file, result file)."""
        plan_file = self.directory / f"{name}.plan.json"
        out_file = self.directory / f"{name}.result.json"
        plan_file.write_text(json.dumps(plan))
        self.children.python(
            name, [module, str(plan_file), str(out_file)], python_env(self.env), role="driver"
        )
        return plan_file, out_file


def _sim_configs(directory: Path, api_url: str, latency_ms: int) -> list[SimProviderConfig]:
    configs = []
    for mode in SIM_MODES:
        provider_id = f"bench-{mode}"
        configs.append(
            SimProviderConfig(
                provider_id=provider_id,
                signing_secret=new_secret(),
                webhook_secret=new_secret(),
                mode=mode,
                hub_webhook_url=f"{api_url}/v1/providers/{provider_id}/webhooks",
                latency_ms=latency_ms,
                poll_interval_ms=200,
                outbox_dir=str(directory / "batches" / "outbox") if mode == "batch" else "",
                inbox_dir=str(directory / "batches" / "inbox") if mode == "batch" else "",
            )
        )
    return configs


def _env(stack_dir: Path, database_url: str, temporal: str, queue: str, key: str) -> dict[str, str]:
    return {
        "HUB_DATABASE_URL": database_url,
        "HUB_TEMPORAL_ADDRESS": temporal,
        "HUB_TASK_QUEUE": queue,
        "HUB_DATA_DIR": str(stack_dir / "data"),
        "HUB_JPKI_TRUST_ANCHORS": str(stack_dir / "root.pem"),
        "HUB_JPKI_CRL_SOURCES": "",
        "HUB_JPKI_LINK_SERVICE_URL": "",
        "HUB_OPERATOR_BOOTSTRAP_KEY": key,
        "HUB_RATE_LIMIT_LOGIN": NO_LIMIT,
        "HUB_RATE_LIMIT_LOGIN_CARD": NO_LIMIT,  # a deck's cards serve several scenarios
        "HUB_RATE_LIMIT_LOGIN_MYKEY": NO_LIMIT,
        "HUB_RATE_LIMIT_RESIDENT_WRITES": NO_LIMIT,
        "HUB_RATE_LIMIT_ADDRESS_WRITES": NO_LIMIT,
        "HUB_OTEL_EXPORTER": "none",
        "HUB_METRICS_EXPORTER": "none",
        "HUB_METRICS_PORT": "0",
    }


def _worker_commands(options: StackOptions) -> list[list[str]]:
    if options.variant == "baseline":
        return [["bench.baseline.worker"]]
    if options.variant == "direct":
        return [["bench.direct_worker"]]
    hub = ["--queues", "hub"] if options.provider_workers else []
    providers = ["--queues", "provider-*"]
    return [["cli", "worker", *hub, *options.worker_args] for _ in range(options.hub_workers)] + [
        ["cli", "worker", *providers, *options.worker_args] for _ in range(options.provider_workers)
    ]


def queues_to_watch(
    variant: str, task_queue: str, provider_ids: list[str], batch_ids: Sequence[str] = ()
) -> list[tuple[str, int]]:
    """Each task queue of the variant and the kind of poller it must have before a run (a
    batch provider's dispatcher: its own queue's workflow poller, `hub/workers.py`)."""
    workflow = int(TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
    activity = int(TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
    if variant == "baseline":
        return [(task_queue, workflow), (task_queue, activity)]
    if variant == "direct":  # no workflows: the API carries each lifecycle itself
        return []
    dispatchers = [(dispatch_queue(p), workflow) for p in batch_ids] if variant == "hub" else []
    return (
        [(task_queue, workflow)]
        + [(provider_queue(p), activity) for p in provider_ids]
        + dispatchers
    )


async def wait_for_pollers(
    client: Client, queues: list[tuple[str, int]], children: Children, seconds: float = 90
) -> None:
    deadline = time.monotonic() + seconds
    for name, kind in queues:
        while True:
            children.check_alive()
            described = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=name),
                    task_queue_type=kind,  # type: ignore[arg-type]
                )
            )
            if described.pollers:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"no worker polls task queue {name} after {seconds:.0f} s")
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def open_stack(options: StackOptions, trust_anchor_pem: str) -> AsyncIterator[Stack]:
    directory = Path(tempfile.mkdtemp(prefix=f"mph-bench-{options.variant}-"))
    children = Children(directory)
    try:
        with fresh_database(options.database, directory) as database_url:
            try:
                yield await _start(options, directory, database_url, trust_anchor_pem, children)
            finally:
                children.stop()  # before the database is dropped
    finally:
        if not options.keep:
            shutil.rmtree(directory, ignore_errors=True)


async def _wait_for_connections(options: StackOptions, notes: list[str]) -> None:
    """A shared PostgreSQL server refuses clients past max_connections, and a process refused
    one fails its requests: wait (up to 15 minutes) until the stack's pools would fit."""
    if is_sqlite(options.database):
        return
    workers = options.hub_workers + options.provider_workers if options.variant == "hub" else 1
    processes = options.apis + workers
    wanted = POOL_PER_PROCESS * processes + 10
    started = time.monotonic()
    while True:
        free, maximum = await asyncio.to_thread(connection_headroom, options.database)
        if free >= wanted:
            if time.monotonic() - started > 5:
                notes.append(f"waited {time.monotonic() - started:.0f} s for free connections")
            return
        if maximum < wanted or time.monotonic() - started > options.connection_wait_s:
            notes.append(
                f"started with {free} PostgreSQL connections free; its processes may use {wanted}"
            )
            return
        await asyncio.sleep(5)


async def _start(
    options: StackOptions, directory: Path, database_url: str, anchor_pem: str, children: Children
) -> Stack:
    (directory / "root.pem").write_text(anchor_pem)
    notes: list[str] = []
    await _wait_for_connections(options, notes)
    temporal_port = free_port()
    temporal_address = f"127.0.0.1:{temporal_port}"
    log = directory / "temporal.log"
    popen = start_dev_server(
        directory / "temporal.db", port=temporal_port, ui_port=None, log_file=log
    )
    children.adopt("temporal", popen, log, "temporal")
    client = await connect(Settings(temporal_address=temporal_address), wait_s=60)
    queue = "baseline" if options.variant == "baseline" else "hub"
    operator_key = "hubk_bench_" + secrets.token_hex(16)
    env = _env(directory, database_url, temporal_address, queue, operator_key)
    if options.variant == "direct":  # the same API, its lifecycle steps called in-process
        env["HUB_ORCHESTRATION"] = "direct"
    api_ports = [free_port() for _ in range(options.apis)]
    api_urls = [f"http://127.0.0.1:{p}" for p in api_ports]
    sims = _sim_configs(directory, api_urls[0], options.provider_latency_ms)
    sim_file = directory / "sim.json"
    sim_file.write_text(json.dumps({"providers": [asdict(s) for s in sims]}))
    sim_port = free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    children.python(
        "simulator",
        ["cli", "sim", "--config", str(sim_file), "--port", str(sim_port)],
        python_env(env),
        role="simulator",
    )
    for index, port in enumerate(api_ports):
        children.python(
            f"api-{index + 1}", ["cli", "api", "--port", str(port)], python_env(env), role="api"
        )
    for index, command in enumerate(_worker_commands(options)):
        children.python(f"worker-{index + 1}", command, python_env(env), role="worker")
    await asyncio.to_thread(wait_http, f"{sim_url}/healthz", "simulator", 60, children)
    for url in api_urls:
        await asyncio.to_thread(wait_http, f"{url}/readyz", "API", 120, children)
    stack = Stack(
        options=options,
        directory=directory,
        database_url=database_url,
        temporal_address=temporal_address,
        sim_url=sim_url,
        api_urls=api_urls,
        operator_key=operator_key,
        task_queue=queue,
        env=env,
        children=children,
        client=client,
        sims=sims,
        notes=notes,
    )
    async with stack.http() as http:
        stack.catalog = await onboard(http, operator_key, sims, sim_url)
    providers = stack.catalog.providers
    batch_ids = [providers["batch"]] if "batch" in providers else []
    watched = queues_to_watch(options.variant, queue, list(providers.values()), batch_ids)
    await wait_for_pollers(client, watched, children)
    return stack
