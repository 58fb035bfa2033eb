"""The hub as it runs beyond one machine, shrunk onto loopback: `mph api`, `mph worker` and
`mph sim` as separate processes on real ports, sharing one Temporal server and one database.

Tests drive it the way staff and residents do (operator and municipality APIs, the resident app
client) and check the outcome where it lands: the simulator's own ledger and the hub's database.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from adapters.signing import new_secret
from domain.points import ledger_adds_up
from simulators.jpki import TestCA
from simulators.providers import SimProviderConfig
from simulators.resident_app import ResidentApp
from storage.database import create_engine, session_factory
from storage.ledger import ledger_moves
from storage.models.receipts import Receipt
from tests.support.scenario import MUNICIPALITY, measure_body
from tests.support.servers import free_port

OPERATOR_KEY = "hubk_drill_operator_key"
OPERATOR = {"authorization": f"Bearer {OPERATOR_KEY}"}
ROOT = Path(__file__).parents[2]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the process and wait for it; returns its exit code (killed after `timeout`)."""
        if self.alive:
            self.popen.send_signal(sig)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(f"{self.name} did not stop within {timeout} s") from None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Provider:
    config: SimProviderConfig
    payment_service_id: str

    @property
    def provider_id(self) -> str:
        return self.config.provider_id


@dataclass
class Cluster:
    tmp: Path
    database_url: str
    temporal_address: str
    ca: TestCA = field(default_factory=TestCA.create)
    procs: list[Proc] = field(default_factory=list)
    providers: dict[str, Provider] = field(default_factory=dict)
    api_urls: list[str] = field(default_factory=list)
    sim_url: str = ""
    task_queue: str = field(default_factory=lambda: f"hub-{secrets.token_hex(4)}")

    def env(self, **extra: str) -> dict[str, str]:
        anchors = self.tmp / "root.pem"
        anchors.write_text(self.ca.certificate_pem)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(
            {
                "HUB_ENV": "test",
                "HUB_DATA_DIR": str(self.tmp),
                "HUB_DATABASE_URL": self.database_url,
                "HUB_TEMPORAL_ADDRESS": self.temporal_address,
                "HUB_TASK_QUEUE": self.task_queue,
                "HUB_JPKI_TRUST_ANCHORS": str(anchors),
                "HUB_OPERATOR_BOOTSTRAP_KEY": OPERATOR_KEY,
                "HUB_TOKEN_SECRET": "drill-token-secret-shared-by-every-replica",
                "HUB_LOG_FORMAT": "json",
                # Every simulated resident comes from 127.0.0.1: one address's login limit
                # would otherwise throttle them all.
                "HUB_RATE_LIMIT_LOGIN": "100000/minute",
                "HUB_RATE_LIMIT_ADDRESS_WRITES": "100000/minute",
                **extra,
            }
        )
        return env

    def spawn(self, name: str, args: list[str], **extra_env: str) -> Proc:
        log = self.tmp / f"{name}.log"
        out = open(log, "ab")  # noqa: SIM115 - the child writes to it
        popen = subprocess.Popen(
            [sys.executable, "-m", "cli", *args],
            env=self.env(**extra_env),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        out.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def add_provider(self, latency_ms: int = 0) -> Provider:
        """A simulated provider; call before `start_sim`, which reads them from its config."""
        provider_id = f"sim-{secrets.token_hex(4)}"
        config = SimProviderConfig(
            provider_id=provider_id,
            signing_secret=new_secret(),
            webhook_secret=new_secret(),
            mode="sync",
            latency_ms=latency_ms,
        )
        provider = Provider(config, f"{provider_id}-pay")
        self.providers[provider_id] = provider
        return provider

    async def start_sim(self) -> None:
        path = self.tmp / "sim.json"
        path.write_text(
            json.dumps({"providers": [asdict(p.config) for p in self.providers.values()]})
        )
        port = free_port()
        proc = self.spawn("sim", ["sim", "--config", str(path), "--port", str(port)])
        self.sim_url = f"http://127.0.0.1:{port}"
        await wait_http(f"{self.sim_url}/healthz", proc)

    async def start_api(self) -> str:
        port = free_port()
        name = f"api-{len(self.api_urls) + 1}"
        proc = self.spawn(name, ["api", "--host", "127.0.0.1", "--port", str(port)])
        url = f"http://127.0.0.1:{port}"
        await wait_http(f"{url}/readyz", proc)
        self.api_urls.append(url)
        return url

    def start_worker(self, name: str, queues: str = "", **extra_env: str) -> Proc:
        args = ["worker"] + (["--queues", queues] if queues else [])
        return self.spawn(name, args, **extra_env)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.alive:
                proc.popen.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()

    def http(self, index: int = 0) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.api_urls[index], timeout=30)

    async def sim_ledger(self, provider_id: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.sim_url, timeout=10) as sim:
            response = await sim.get(f"/p/{provider_id}/admin/ledger")
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result


async def wait_http(url: str, proc: Proc, seconds: float = 90.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    async with httpx.AsyncClient(timeout=2) as http:
        while asyncio.get_running_loop().time() < deadline:
            if not proc.alive:
                raise AssertionError(f"{proc.name} exited early:\n{proc.output()[-3000:]}")
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"{proc.name} not ready at {url}:\n{proc.output()[-3000:]}")


async def onboard(http: httpx.AsyncClient, cluster: Cluster) -> str:
    """Municipality, every simulated provider and its service, and a published measure."""
    response = await http.post(
        "/v1/operator/municipalities",
        json={"code": MUNICIPALITY, "name": "千代田区"},
        headers=OPERATOR,
    )
    assert response.status_code in (201, 409), response.text
    for provider in cluster.providers.values():
        config = provider.config
        body = {
            "provider_id": config.provider_id,
            "name": f"Simulated {config.provider_id}",
            "adapter": "hub_rest",
            "config": {
                "base_url": f"{cluster.sim_url}/p/{config.provider_id}",
                "signing_secret": config.signing_secret,
                "webhook_secrets": [config.webhook_secret],
                "ack_mode": "sync",
                "ack_deadline_s": 600,
                "rate_limit_per_s": 100,
                "retry": {
                    "initial_interval_s": 0.2,
                    "backoff": 2,
                    "max_interval_s": 1,
                    "max_attempts": 30,
                },
            },
        }
        response = await http.post("/v1/operator/providers", json=body, headers=OPERATOR)
        assert response.status_code == 201, response.text
        response = await http.post(
            "/v1/operator/payment-services",
            json={
                "payment_service_id": provider.payment_service_id,
                "name": f"{config.provider_id} ペイ",
                "provider_id": config.provider_id,
            },
            headers=OPERATOR,
        )
        assert response.status_code == 201, response.text
    response = await http.post(
        "/v1/operator/api-keys",
        json={"role": "municipality", "scope": MUNICIPALITY},
        headers=OPERATOR,
    )
    assert response.status_code == 201, response.text
    staff = {"authorization": f"Bearer {response.json()['key']}"}
    services = [p.payment_service_id for p in cluster.providers.values()]
    response = await http.post(
        f"/v1/municipalities/{MUNICIPALITY}/measures", json=measure_body(services), headers=staff
    )
    assert response.status_code == 201, response.text
    measure_id: str = response.json()["measure_id"]
    response = await http.post(
        f"/v1/municipalities/{MUNICIPALITY}/measures/{measure_id}/publish", headers=staff
    )
    assert response.status_code == 200, response.text
    return measure_id


@dataclass
class Journey:
    """One resident's way through the hub; each step may go to a different API replica."""

    resident: ResidentApp
    account_id: str
    grant_id: str = ""
    registration_id: str = ""
    receipt_id: str = ""

    def via(self, http: httpx.AsyncClient) -> Journey:
        self.resident.http = http
        return self

    async def login_apply_register(self, measure_id: str, service_id: str) -> None:
        login = await self.resident.login()
        assert login.status_code == 201, login.text
        applied = await self.resident.apply(measure_id)
        assert applied.status_code == 201, applied.text
        [grant] = applied.json()["grants"]
        self.grant_id = grant["grant_id"]
        registered = await self.resident.register_service(service_id, self.account_id)
        for _ in range(3):  # as docs/app-integration.md tells an app: 503 provider_unavailable
            if registered.status_code != 503:  # means retry later (a loaded machine's simulator
                break  # can miss the hub's account-check deadline); nothing was written
            await asyncio.sleep(1.0)
            registered = await self.resident.register_service(service_id, self.account_id)
        assert registered.status_code == 201, registered.text
        self.registration_id = registered.json()["registration_id"]

    async def request_receipt(self) -> None:
        response = await self.resident.request_receipt([self.grant_id], self.registration_id)
        assert response.status_code == 202, response.text
        [receipt] = response.json()["receipts"]
        self.receipt_id = receipt["receipt_id"]

    async def state(self) -> str:
        points = await self.resident.points()
        grant = next(g for g in points["grants"] if g["grant_id"] == self.grant_id)
        return str(grant["state"])


def new_journey(cluster: Cluster, http: httpx.AsyncClient) -> Journey:
    card = cluster.ca.issue_card("1234", issued_at=datetime.now(UTC) - timedelta(hours=2))
    return Journey(ResidentApp(http, card), f"acct-{secrets.token_hex(5)}")


async def retrying(step: Any, seconds: float = 60.0) -> None:
    """Run `step()` until it succeeds: a request may fail while a dependency restarts."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            await step()
            return
        except (AssertionError, httpx.HTTPError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def wait_credited(journeys: Iterable[Journey], seconds: float = 120.0) -> None:
    pending = list(journeys)
    deadline = asyncio.get_running_loop().time() + seconds
    states: dict[str, str] = {}
    while pending:
        still = []
        for journey in pending:
            try:
                states[journey.grant_id] = await journey.state()
            except (httpx.HTTPError, KeyError, StopIteration):
                states[journey.grant_id] = "unknown"
            if states[journey.grant_id] != "credited":
                still.append(journey)
        pending = still
        if pending and asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not credited within {seconds:.0f} s: {states}")
        if pending:
            await asyncio.sleep(0.3)


@dataclass
class Books:
    """Receipt rows as the hub recorded them, for checks after a run."""

    receipts: dict[str, Receipt]


async def hub_books(database_url: str, measure_id: str) -> tuple[Books, bool]:
    """The hub's receipts of the measure, and whether its points ledger adds up."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            rows = (
                (await session.execute(select(Receipt).where(Receipt.measure_id == measure_id)))
                .scalars()
                .all()
            )
            moves = await ledger_moves(session, measure_id=measure_id)
        return Books({r.id: r for r in rows}), ledger_adds_up(moves)
    finally:
        await engine.dispose()


async def assert_credited_exactly_once(
    cluster: Cluster, journeys: list[Journey], provider: Provider, points: int = 1000
) -> dict[str, Any]:
    """Every receipt applied once at the provider, balances add up, the hub's ledger adds up."""
    ledger = await cluster.sim_ledger(provider.provider_id)
    credits = {c["receipt_id"]: c for c in ledger["credits"]}
    for journey in journeys:
        credit = credits.get(journey.receipt_id)
        assert credit is not None, f"{journey.receipt_id} never reached the provider"
        assert credit["applied"] == 1, credit
        assert ledger["balances"][journey.account_id] == points
    assert sum(c["applied"] for c in credits.values()) == len(credits)
    return credits
