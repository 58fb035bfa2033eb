"""The hub as a user would run it, inside one test process: API, worker and provider simulator
on real loopback sockets, a real Temporal server and a real database."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from temporalio.client import Client

from adapters.providers.registry import AdapterRegistry
from adapters.signing import new_secret
from api.app import build_context, create_app
from hub.settings import Environment, Settings
from hub.workers import HubWorkers, WorkerOptions
from services.context import HubContext
from simulators.jpki import TestCA, VirtualCard
from simulators.providers import SimProviderConfig, create_sim_app
from simulators.resident_app import ResidentApp
from tests.support.servers import free_port, serve

OPERATOR_KEY = "hubk_test_operator_key"


@dataclass
class Hub:
    api_url: str
    sim_url: str
    settings: Settings
    ctx: HubContext
    client: Client
    ca: TestCA
    sim_providers: dict[str, Any]
    sim_configs: dict[str, SimProviderConfig]
    http: httpx.AsyncClient
    operator_headers: dict[str, str] = field(
        default_factory=lambda: {"authorization": f"Bearer {OPERATOR_KEY}"}
    )

    def card(self, *, age: timedelta = timedelta(hours=2), pin: str = "1234") -> VirtualCard:
        return self.ca.issue_card(pin, issued_at=datetime.now(UTC) - age)

    def resident(self, card: VirtualCard | None = None) -> ResidentApp:
        return ResidentApp(self.http, card or self.card())

    def add_sim_provider(self, provider_id: str, mode: str = "sync") -> SimProviderConfig:
        """A new simulated provider, served by the already running simulator."""
        from simulators.providers import SimProvider

        config = SimProviderConfig(
            provider_id=provider_id,
            signing_secret=new_secret(),
            webhook_secret=new_secret(),
            mode=mode,
            hub_webhook_url=f"{self.api_url}/v1/providers/{provider_id}/webhooks",
        )
        self.sim_configs[provider_id] = config
        self.sim_providers[provider_id] = SimProvider(config)
        return config

    async def sim_ledger(self, provider_id: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.sim_url) as sim:
            response = await sim.get(f"/p/{provider_id}/admin/ledger")
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result


@contextlib.asynccontextmanager
async def workers_running(workers: HubWorkers) -> AsyncIterator[None]:
    """`workers` polling their task queues until the block ends, then stopped and awaited."""
    stop = asyncio.Event()
    task = asyncio.create_task(workers.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


def hub_settings(
    *, database_url: str, client: Client, tmp_dir: Path, ca: TestCA, **overrides: Any
) -> Settings:
    """A test hub's settings: its own task queue and API port, `ca` as the only trust anchor,
    the operator's bootstrap key."""
    anchors = tmp_dir / f"root-{secrets.token_hex(3)}.pem"
    anchors.write_text(ca.certificate_pem)
    return Settings(
        env=Environment.TEST,
        database_url=database_url,
        temporal_address=client.service_client.config.target_host,
        task_queue=f"hub-{secrets.token_hex(4)}",
        jpki_trust_anchors=[anchors],
        operator_bootstrap_key=SecretStr(OPERATOR_KEY),
        api_port=free_port(),
        **overrides,
    )


@contextlib.asynccontextmanager
async def running_hub(
    *,
    database_url: str,
    client: Client,
    tmp_dir: Path,
    ca: TestCA | None = None,
    sandboxed: bool = True,
    **settings_overrides: Any,
) -> AsyncIterator[Hub]:
    ca = ca or TestCA.create()
    sim_app = create_sim_app([])
    settings = hub_settings(
        database_url=database_url,
        client=client,
        tmp_dir=tmp_dir,
        ca=ca,
        **settings_overrides,  # e.g. HUB_JPKI_* for the linking service and CRLs
    )
    worker_ctx = build_context(settings)
    registry = AdapterRegistry()
    workers = HubWorkers(
        client,
        worker_ctx.sessions,
        registry,
        WorkerOptions(task_queue=settings.task_queue, sandboxed=sandboxed, provider_refresh_s=0.2),
    )
    try:
        async with (
            workers_running(workers),
            serve(sim_app) as sim_url,
            serve(create_app(settings), port=settings.api_port) as api_url,
            httpx.AsyncClient(base_url=api_url, timeout=30) as http,
        ):
            yield Hub(
                api_url=api_url,
                sim_url=sim_url,
                settings=settings,
                ctx=worker_ctx,
                client=client,
                ca=ca,
                sim_providers=sim_app.state.providers,
                sim_configs={},
                http=http,
            )
    finally:
        await registry.aclose()
        await worker_ctx.engine.dispose()
