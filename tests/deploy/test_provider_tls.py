"""Providers over TLS: a simulated provider served over HTTPS by a private CA and requiring a
client certificate (mutual TLS) credits a receipt exactly once, through the hub's API (account
check) and provider worker (credit); without the provider's CA bundle or without the client
certificate nothing reaches it; in production an `http://` provider is refused."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.providers.contract import PermanentProviderError, TransientProviderError
from adapters.providers.hub_rest import HubRestAdapter, HubRestConfig
from adapters.providers.registry import AdapterRegistry
from adapters.signing import new_secret
from adapters.tls import ClientTls
from domain.errors import RuleViolation
from services.operator import check_transport
from simulators.providers import SimProvider, SimProviderConfig, create_sim_app
from tests.identity.stack_support import enrolled, grant_of, wait_for_grant
from tests.support.scenario import ensure_municipality, municipality_key, publish_measure
from tests.support.servers import ServerTls, free_port, serve
from tests.support.stack import Hub
from tests.support.tls import Issued, TestPki


class TlsProvider:
    def __init__(self, pki: TestPki, client: Issued) -> None:
        self.provider_id = f"tls-{secrets.token_hex(4)}"
        self.config = SimProviderConfig(
            provider_id=self.provider_id, signing_secret=new_secret(), mode="sync"
        )
        self.app = create_sim_app([self.config])
        self.tls = {
            "tls_ca_bundle": str(pki.ca_bundle),
            "tls_client_cert": str(client.certificate),
            "tls_client_key": str(client.key),
        }

    @property
    def sim(self) -> SimProvider:
        provider: SimProvider = self.app.state.providers[self.provider_id]
        return provider


@pytest.fixture
def pki(tmp_path: Path) -> TestPki:
    return TestPki(tmp_path / "pki")


async def register(hub: Hub, provider: TlsProvider, base_url: str, **tls: Any) -> None:
    body = {
        "provider_id": provider.provider_id,
        "name": "TLS provider",
        "adapter": "hub_rest",
        "config": {
            "base_url": f"{base_url}/p/{provider.provider_id}",
            "signing_secret": provider.config.signing_secret,
            "ack_mode": "sync",
            "rate_limit_per_s": 100,
            "retry": {"initial_interval_s": 0.2, "backoff": 2, "max_interval_s": 1},
            **tls,
        },
    }
    response = await hub.http.post(
        "/v1/operator/providers", json=body, headers=hub.operator_headers
    )
    assert response.status_code == 201, response.text
    response = await hub.http.post(
        "/v1/operator/payment-services",
        json={
            "payment_service_id": f"{provider.provider_id}-pay",
            "name": "TLS ペイ",
            "provider_id": provider.provider_id,
        },
        headers=hub.operator_headers,
    )
    assert response.status_code == 201, response.text


async def test_a_credit_over_mutual_tls_happens_exactly_once(hub: Hub, pki: TestPki) -> None:
    server, client = pki.server(), pki.client()
    provider = TlsProvider(pki, client)
    tls = ServerTls(server.certificate, server.key, client_ca=pki.ca_bundle)
    async with serve(provider.app, tls=tls) as base_url:
        assert base_url.startswith("https://")
        await register(hub, provider, base_url, **provider.tls)
        await ensure_municipality(hub)
        key = await municipality_key(hub)
        measure_id = await publish_measure(hub, key, [f"{provider.provider_id}-pay"])
        resident = hub.resident()
        registration_id = await enrolled(hub, resident, f"{provider.provider_id}-pay", "tls-0001")
        grant_id = await grant_of(resident, measure_id)
        receipt = await resident.request_receipt([grant_id], registration_id)
        assert receipt.status_code == 202, receipt.text
        await wait_for_grant(resident, grant_id, {"credited"}, seconds=60)
        [receipt_id] = [r["receipt_id"] for r in receipt.json()["receipts"]]
        assert list(provider.sim.credits) == [receipt_id]
        assert provider.sim.credits[receipt_id].applied == 1
        assert provider.sim.balances == {"tls-0001": 1000}


async def test_without_the_providers_ca_or_client_certificate_nothing_reaches_it(
    pki: TestPki,
) -> None:
    server, client = pki.server(), pki.client()
    provider = TlsProvider(pki, client)
    tls = ServerTls(server.certificate, server.key, client_ca=pki.ca_bundle)
    async with serve(provider.app, tls=tls) as base_url:

        def adapter(tls: ClientTls) -> HubRestAdapter:
            return HubRestAdapter(
                provider.provider_id,
                HubRestConfig(
                    f"{base_url}/p/{provider.provider_id}",
                    provider.config.signing_secret,
                    tls=tls,
                ),
            )

        trusted = adapter(ClientTls.from_config(provider.tls))
        assert (await trusted.verify_account("acct-0001", "1234")).valid
        for refused in (
            ClientTls(
                client_cert=str(client.certificate), client_key=str(client.key)
            ),  # public CAs
            ClientTls(ca_bundle=str(pki.ca_bundle)),  # no client certificate
        ):
            with pytest.raises(TransientProviderError, match="connection failed"):
                await adapter(refused).verify_account("acct-0002", "1234")
        await trusted.aclose()
    assert provider.sim.calls == 1  # only the trusted adapter's request reached the provider


def test_production_refuses_an_http_provider() -> None:
    config = {"base_url": "http://provider.example/hub", "signing_secret": "s"}
    with pytest.raises(RuleViolation) as refused:
        check_transport(config, production=True)
    assert refused.value.code == "invalid_provider_config"
    assert "must be an https:// URL in production" in refused.value.detail
    check_transport(config, production=False)  # development and tests may
    check_transport({**config, "base_url": "https://provider.example/hub"}, production=True)

    registry = AdapterRegistry(require_https=True)  # a provider configured before production
    with pytest.raises(PermanentProviderError, match="https://"):
        registry.get("old", "hub_rest", config, {"signing_secret": "s"})


def test_tls_files_must_be_readable_where_the_hub_runs(tmp_path: Path) -> None:
    with pytest.raises(RuleViolation, match=r"tls_ca_bundle .* is not a readable file"):
        check_transport({"tls_ca_bundle": str(tmp_path / "missing.pem")}, production=True)
    with pytest.raises(RuleViolation, match="tls_client_key needs tls_client_cert"):
        check_transport({"tls_client_key": str(tmp_path / "key.pem")}, production=True)


async def test_mph_sim_serves_https_with_client_certificates(pki: TestPki, tmp_path: Path) -> None:
    """What the staging shapes run: `mph sim --tls-cert … --tls-client-ca …`."""
    server, client = pki.server(), pki.client()
    config = tmp_path / "sim.json"
    config.write_text('{"providers": []}')
    port = free_port()
    command = [
        sys.executable, "-m", "cli", "sim", "--config", str(config), "--port", str(port),
        "--tls-cert", str(server.certificate), "--tls-key", str(server.key),
        "--tls-client-ca", str(pki.ca_bundle),
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        tls = ClientTls(str(pki.ca_bundle), str(client.certificate), str(client.key))
        async with httpx.AsyncClient(verify=tls.ssl_context(), timeout=2) as http:
            for _ in range(150):
                try:
                    answer = await http.get(f"https://127.0.0.1:{port}/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("mph sim never answered over TLS")
        assert answer.status_code == 200
        async with httpx.AsyncClient(verify=ClientTls(str(pki.ca_bundle)).ssl_context()) as http:
            with pytest.raises(httpx.TransportError):  # no client certificate
                await http.get(f"https://127.0.0.1:{port}/healthz")
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)
