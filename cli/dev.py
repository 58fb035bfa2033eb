"""`mph dev`: the whole hub on one machine, with an embedded default database and Temporal."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from api.app import build_context
from cli.card import DEFAULT_JPKI_PORT
from hub.devserver import start_dev_server
from hub.seed import DemoData, seed_demo
from hub.settings import Settings
from hub.temporal import connect
from simulators.jpki import TestCA
from storage.migrate import upgrade

console = Console()


def child_env(settings: Settings, extra: dict[str, str]) -> dict[str, str]:
    env = os.environ.copy()
    # Let the Temporal sandbox reuse compiled workflow modules, as on a normal machine.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str((settings.data_dir / "pycache").resolve()))
    env.update(extra)
    return env


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(
        [sys.executable, "-m", "cli", *args], env=env, stdout=out, stderr=subprocess.STDOUT
    )


def wait_http(url: str, what: str, seconds: float, children: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for child in children:
            if child.poll() is not None:
                raise RuntimeError(f"{what}: a process exited early (code {child.returncode})")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not become ready at {url} within {seconds:.0f} s")


def stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 25
    for child in reversed(children):
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def print_summary(demo: DemoData, settings: Settings, temporal_ui: str) -> None:
    table = Table(title="Municipal Mynapoint Hub is running", show_header=False)
    table.add_row("API", demo.api_url + "  (OpenAPI: /docs)")
    table.add_row("Staff console", demo.api_url + "/console/  (sign in with a key below)")
    table.add_row("Temporal UI", temporal_ui)
    table.add_row("Provider simulator", demo.sim_url)
    table.add_row("Operator key", settings.operator_bootstrap_key.get_secret_value())
    table.add_row(f"Municipality key ({demo.municipality_code})", demo.municipality_key)
    table.add_row("Support key", demo.support_key)
    table.add_row("Demo measure", demo.measure_id)
    table.add_row("Logs", str(settings.data_dir / "logs"))
    console.print(table)
    console.print(
        "In another terminal: [bold].venv/bin/mph demo[/bold]   ·   Ctrl-C stops everything"
    )


def run_dev(settings: Settings, port: int, sim_port: int) -> None:
    data = settings.data_dir
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    ca = TestCA.load_or_create(data / "jpki")
    del ca
    anchors = str((data / "jpki" / "root.pem").resolve())
    temporal_address = settings.temporal_address or "127.0.0.1:7233"
    api_url = f"http://127.0.0.1:{port}"
    sim_url = f"http://127.0.0.1:{sim_port}"
    jpki_url = f"http://127.0.0.1:{DEFAULT_JPKI_PORT}"
    env_extra = {
        "HUB_JPKI_TRUST_ANCHORS": os.environ.get("HUB_JPKI_TRUST_ANCHORS", anchors),
        "HUB_TEMPORAL_ADDRESS": temporal_address,
        "HUB_DATABASE_URL": settings.effective_database_url,
        # Spans go to the process logs under .data/logs unless an exporter is configured.
        "HUB_OTEL_EXPORTER": os.environ.get("HUB_OTEL_EXPORTER", "console"),
        # Prometheus metrics on the API's /metrics (docs/operations.md, "What to watch").
        "HUB_METRICS_EXPORTER": os.environ.get("HUB_METRICS_EXPORTER", "prometheus"),
        # The test CA's CRL and old/new linking records, served by `mph card serve`.
        "HUB_JPKI_LINK_SERVICE_URL": os.environ.get("HUB_JPKI_LINK_SERVICE_URL", jpki_url),
        "HUB_JPKI_CRL_SOURCES": os.environ.get("HUB_JPKI_CRL_SOURCES", f"{jpki_url}/crl"),
        "HUB_JPKI_CRL_REFRESH_S": os.environ.get("HUB_JPKI_CRL_REFRESH_S", "10"),
    }
    settings = settings.model_copy(
        update={"temporal_address": temporal_address, "jpki_trust_anchors": [Path(anchors)]}
    )
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        with console.status("migrating the database"):
            upgrade(settings.effective_database_url)
        if not os.environ.get("HUB_TEMPORAL_ADDRESS"):
            with console.status("starting the Temporal dev server"):
                children.append(
                    start_dev_server(
                        data / "temporal.db",
                        port=7233,
                        ui_port=8233,
                        log_file=logs / "temporal.log",
                    )
                )
        demo = asyncio.run(_seed(settings, api_url, sim_url))
        env = child_env(settings, env_extra)
        jpki_args = ["card", "serve", "--port", str(DEFAULT_JPKI_PORT)]
        children.append(spawn(jpki_args, env, logs / "jpki.log"))
        wait_http(f"{jpki_url}/healthz", "JPKI test services", 60, children)
        children.append(spawn(["sim", "--port", str(sim_port)], env, logs / "sim.log"))
        children.append(spawn(["worker"], env, logs / "worker.log"))
        children.append(spawn(["api", "--port", str(port)], env, logs / "api.log"))
        with console.status("waiting for the API to become ready"):
            wait_http(f"{sim_url}/healthz", "simulator", 60, children)
            wait_http(f"{api_url}/readyz", "API", 120, children)
        print_summary(demo, settings, "http://127.0.0.1:8233")
        while all(c.poll() is None for c in children):
            time.sleep(0.5)
        dead = [c.args for c in children if c.poll() is not None]
        console.print(f"[red]a process stopped unexpectedly: {dead}; see {logs}[/red]")
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        stop_all(children)
        console.print("stopped")


async def _seed(settings: Settings, api_url: str, sim_url: str) -> DemoData:
    await connect(settings, wait_s=60)  # the dev server is up before anyone needs it
    ctx = build_context(settings)
    try:
        return await seed_demo(ctx, settings.data_dir, api_url, sim_url)
    finally:
        await ctx.engine.dispose()
