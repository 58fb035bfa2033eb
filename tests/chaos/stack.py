"""One long-lived hub for fault injection: the time-skipping Temporal test server, a migrated
database, the provider simulator and the API on real loopback sockets, and workers that can be
killed and started again while workflows run.

Examples share it; each example gets fresh residents (its own grants and receipts), so nothing is
wiped between examples and every check reads only that example's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from adapters.providers.registry import AdapterRegistry
from api.app import build_context, create_app
from hub.search_attributes import ensure_search_attributes
from hub.settings import Settings
from hub.temporal import data_converter
from hub.workers import HubWorkers, WorkerOptions
from services.context import HubContext
from simulators.jpki import TestCA, VirtualCard
from simulators.providers import SimProvider, create_sim_app
from simulators.resident_app import ResidentApp
from tests.providers.support import onboard_provider
from tests.support.databases import fresh_database
from tests.support.scenario import MUNICIPALITY, measure_body
from tests.support.servers import serve
from tests.support.stack import OPERATOR_KEY, Hub, hub_settings

ACK_DEADLINE_S = 30
# Credits give up after a few quick attempts, so exhausted retries happen within an example.
RETRY = {"initial_interval_s": 0.1, "backoff": 2, "max_interval_s": 0.4, "max_attempts": 4}
MEASURE_LIFETIME = timedelta(days=3650)
# Every real-time delay of the machine is scaled to this time-out (tests/chaos/machine.py): slow
# answers within it, "slower than the time-out" and "applied, then answered too late" past it,
# late webhooks and `moments_pass` of the same order.
ADAPTER_TIMEOUT_S = 0.5


@dataclass
class QuickCard(VirtualCard):
    """A card whose key is made and loaded once and shared by every resident of the run: each
    resident still has a certificate (a serial, so a MyKey ID) of its own, and the hub checks
    the chain and the signature as for any card. A 2048-bit key made and loaded anew for every
    resident (`TestCA.issue_card`) cost about 0.3 s of each run's time, none of it the hub's."""

    key: rsa.RSAPrivateKey | None = None

    def sign(self, nonce: bytes, pin: str) -> bytes:
        assert self.key is not None and pin == self.pin  # chaos residents know their PIN
        return self.key.sign(nonce, padding.PKCS1v15(), hashes.SHA256())

    @classmethod
    def issued_by(cls, ca: TestCA, key: rsa.RSAPrivateKey, pin: str = "1234") -> QuickCard:
        issued_at = datetime.now(UTC) - timedelta(hours=2)
        certificate = ca.issue_certificate(key.public_key(), issued_at=issued_at)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        der = certificate.public_bytes(serialization.Encoding.DER)
        return cls(certificate_der=der, private_key_pem=pem, pin=pin, key=key)


@dataclass
class SimulatedProvider:
    provider_id: str
    payment_service_id: str
    mode: str  # webhook | pull | sync
    sim: SimProvider


@dataclass
class ChaosStack:
    env: WorkflowEnvironment
    settings: Settings
    ctx: HubContext
    http: httpx.AsyncClient
    sim_http: httpx.AsyncClient
    sim_providers: dict[str, SimProvider]
    api_url: str
    sim_url: str
    ca: TestCA
    registry: AdapterRegistry
    hub: Hub
    providers: dict[str, SimulatedProvider] = field(default_factory=dict)
    measure_id: str = ""
    measure_renew_at: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))
    support_headers: dict[str, str] = field(default_factory=dict)
    municipality_headers: dict[str, str] = field(default_factory=dict)
    _workers: tuple[asyncio.Event, asyncio.Task[None]] | None = None
    _card_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    operator_headers = {"authorization": f"Bearer {OPERATOR_KEY}"}

    # ----- workers -------------------------------------------------------------------------

    @property
    def workers_up(self) -> bool:
        return self._workers is not None

    def start_workers(self) -> None:
        if self._workers is not None:
            return
        workers = HubWorkers(
            self.env.client,
            self.ctx.sessions,
            self.registry,
            WorkerOptions(
                task_queue=self.settings.task_queue,
                provider_refresh_s=0.2,
                graceful_shutdown=timedelta(seconds=0),
                # No cache, so no sticky queue: after a kill the next worker takes every
                # workflow task at once (replaying its history), instead of the server waiting
                # for the dead worker's sticky queue to time out.
                max_cached_workflows=0,
            ),
        )
        stop = asyncio.Event()
        self._workers = (stop, asyncio.create_task(workers.run(stop)))

    async def kill_workers(self) -> None:
        """Every worker of the hub stops, as when its process is killed and restarted: work in
        flight is lost (activities time out and are retried), workflows stay on the server."""
        if self._workers is None:
            return
        stop, task = self._workers
        self._workers = None
        stop.set()
        await task

    # ----- onboarding ----------------------------------------------------------------------

    async def add_provider(self, mode: str) -> SimulatedProvider:
        onboarded = await onboard_provider(
            self.hub,
            mode,
            ack_deadline_s=ACK_DEADLINE_S,
            rate_limit_per_s=500,
            retry=RETRY,
            timeout_s=ADAPTER_TIMEOUT_S,
        )
        provider = SimulatedProvider(
            onboarded.provider_id, onboarded.payment_service_id, mode, onboarded.sim
        )
        self.providers[provider.provider_id] = provider
        return provider

    async def current_measure(self) -> str:
        """A published measure offering every provider, its receipt deadline far beyond the test
        server's clock (which skipping moves ahead of the wall clock); renewed when that nears."""
        server_now = await self.env.get_current_time()
        if self.measure_id and server_now < self.measure_renew_at:
            return self.measure_id
        now = datetime.now(UTC)
        deadline = max(now, server_now) + MEASURE_LIFETIME
        body = measure_body(
            [p.payment_service_id for p in self.providers.values()],
            closes_at=deadline.isoformat(),
            receipt_deadline=deadline.isoformat(),
            budget_points=10**12,
        )
        made = await self.http.post(
            f"/v1/municipalities/{MUNICIPALITY}/measures",
            json=body,
            headers=self.municipality_headers,
        )
        assert made.status_code == 201, made.text
        measure_id = str(made.json()["measure_id"])
        published = await self.http.post(
            f"/v1/municipalities/{MUNICIPALITY}/measures/{measure_id}/publish",
            headers=self.municipality_headers,
        )
        assert published.status_code == 200, published.text
        self.measure_id = measure_id
        self.measure_renew_at = server_now + MEASURE_LIFETIME / 2
        return measure_id

    def resident(self) -> ResidentApp:
        return self.hub.resident(QuickCard.issued_by(self.ca, self._card_key))

    async def set_faults(self, provider_id: str, **knobs: Any) -> None:
        answer = await self.sim_http.patch(f"/p/{provider_id}/admin/faults", json=knobs)
        assert answer.status_code == 200, answer.text

    async def skip(self, duration: timedelta) -> None:
        """Let time pass on the workflows' clock (timers fire; activities run in real time).

        The test server skips only while no task is outstanding; after a worker kill, tasks the
        dead worker held keep it from skipping until they time out, and the skip's own RPC may
        time out (or its connection be reset) first. Then time has passed for real meanwhile,
        which is all a run needs."""
        try:
            await self.env.sleep(duration)
        except RPCError:  # "Timeout expired", or the long call's connection reset
            await asyncio.sleep(0.5)


async def _key(http: httpx.AsyncClient, role: str, scope: str | None = None) -> dict[str, str]:
    body: dict[str, Any] = {"role": role}
    if scope is not None:
        body["scope"] = scope
    made = await http.post("/v1/operator/api-keys", json=body, headers=ChaosStack.operator_headers)
    assert made.status_code == 201, made.text
    return {"authorization": f"Bearer {made.json()['key']}"}


def _test_server_path() -> str:
    return shutil.which("temporal-test-server") or str(
        Path(__file__).parents[2] / ".venv/bin/temporal-test-server"
    )


@contextlib.asynccontextmanager
async def chaos_stack(
    tmp_dir: Path, *, modes: tuple[str, ...] = ("webhook", "pull")
) -> AsyncIterator[ChaosStack]:
    """The whole hub, one simulated provider per mode, workers running."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_test_server_path(), data_converter=data_converter()
    )
    try:
        await ensure_search_attributes(env.client)
        with fresh_database(tmp_dir) as url:
            ca = TestCA.create()
            # A few connections per engine: a run has three residents, and `make test` runs the
            # chaos tests beside the rest of the suite on the same PostgreSQL server.
            settings = hub_settings(
                database_url=url, client=env.client, tmp_dir=tmp_dir, ca=ca, database_pool_size=4
            )
            ctx = build_context(settings)
            registry = AdapterRegistry()
            sim_app = create_sim_app([])
            try:
                async with (
                    serve(sim_app) as sim_url,
                    serve(create_app(settings), port=settings.api_port) as api_url,
                    httpx.AsyncClient(base_url=api_url, timeout=60) as http,
                    httpx.AsyncClient(base_url=sim_url, timeout=10) as sim_http,
                ):
                    stack = ChaosStack(
                        env=env,
                        settings=settings,
                        ctx=ctx,
                        http=http,
                        sim_http=sim_http,
                        sim_providers=sim_app.state.providers,
                        api_url=api_url,
                        sim_url=sim_url,
                        ca=ca,
                        registry=registry,
                        hub=Hub(
                            api_url=api_url,
                            sim_url=sim_url,
                            settings=settings,
                            ctx=ctx,
                            client=env.client,
                            ca=ca,
                            sim_providers=sim_app.state.providers,
                            sim_configs={},
                            http=http,
                        ),
                    )
                    made = await http.post(
                        "/v1/operator/municipalities",
                        json={"code": MUNICIPALITY, "name": "千代田区"},
                        headers=stack.operator_headers,
                    )
                    assert made.status_code in (201, 409), made.text
                    stack.support_headers = await _key(http, "support")
                    stack.municipality_headers = await _key(http, "municipality", MUNICIPALITY)
                    stack.start_workers()
                    for mode in modes:
                        await stack.add_provider(mode)
                    await stack.current_measure()
                    try:
                        yield stack
                    finally:
                        await stack.kill_workers()
            finally:
                await registry.aclose()
                await ctx.engine.dispose()
    finally:
        await env.shutdown()
