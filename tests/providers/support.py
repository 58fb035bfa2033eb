"""Onboarding providers of every style against the running hub and simulator, and residents who
get a grant and ask to receive it there."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulators.providers import SimProvider, hub_side_config
from simulators.resident_app import ResidentApp
from tests.support.scenario import ensure_municipality, municipality_key, publish_measure
from tests.support.stack import Hub

FAST_RETRY = {"initial_interval_s": 0.2, "backoff": 2, "max_interval_s": 1, "max_attempts": 30}


@dataclass
class Provider:
    provider_id: str
    payment_service_id: str
    measure_id: str
    sim: SimProvider
    api_key: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        assert self.api_key, "this provider has no API key"
        return {"authorization": f"Bearer {self.api_key}"}


async def provider_key(hub: Hub, provider_id: str) -> str:
    response = await hub.http.post(
        "/v1/operator/api-keys",
        json={"role": "provider", "scope": provider_id},
        headers=hub.operator_headers,
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


async def onboard_provider(
    hub: Hub,
    style: str,
    *,
    tmp_dir: Path | None = None,
    sim: dict[str, Any] | None = None,
    **config: Any,
) -> Provider:
    """A simulated provider of one style (`sync`, `webhook`, `pull`, `batch`, `paylite`), its
    payment service, a provider API key and a published measure offering it."""
    await ensure_municipality(hub)
    provider_id = f"{style}-{secrets.token_hex(4)}"
    sim_config = hub.add_sim_provider(provider_id, style)
    if style == "batch":
        assert tmp_dir is not None, "a batch provider needs directories"
        root = tmp_dir / provider_id
        sim_config.outbox_dir = str(root / "outbox")
        sim_config.inbox_dir = str(root / "inbox")
        sim_config.poll_interval_ms = 100
    if style == "paylite":
        sim_config.client_id = f"client-{provider_id}"
        sim_config.client_secret = secrets.token_urlsafe(16)
    adapter, body = hub_side_config(sim_config, hub.sim_url)
    if style == "batch":
        body.update({"cutoff_records": 3, "cutoff_s": 1, "poll_s": 0.2})
    body.update(
        {"ack_deadline_s": 600, "rate_limit_per_s": 200, "retry": FAST_RETRY, "timeout_s": 2}
    )
    body.update(config)
    response = await hub.http.post(
        "/v1/operator/providers",
        json={"provider_id": provider_id, "name": provider_id, "adapter": adapter, "config": body},
        headers=hub.operator_headers,
    )
    assert response.status_code == 201, response.text
    service_id = f"{provider_id}-pay"
    response = await hub.http.post(
        "/v1/operator/payment-services",
        json={"payment_service_id": service_id, "name": service_id, "provider_id": provider_id},
        headers=hub.operator_headers,
    )
    assert response.status_code == 201, response.text
    measure_id = await publish_measure(hub, await municipality_key(hub), [service_id])
    key = await provider_key(hub, provider_id)
    if style == "pull":
        sim_config.hub_api_url, sim_config.hub_api_key = hub.api_url, key
        sim_config.poll_interval_ms = 100
    for name, value in (sim or {}).items():
        setattr(sim_config, name, value)
    return Provider(provider_id, service_id, measure_id, hub.sim_providers[provider_id], key)


@dataclass
class Receiving:
    resident: ResidentApp
    grant_id: str
    registration_id: str
    receipt_id: str | None = None


async def granted_resident(
    hub: Hub, provider: Provider, account_id: str | None = None
) -> Receiving:
    """A resident who logged in, applied (granted) and registered an account at the provider."""
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    applied = await resident.apply(provider.measure_id)
    assert applied.status_code == 201, applied.text
    [grant] = applied.json()["grants"]
    account_id = account_id or f"acct-{secrets.token_hex(5)}"
    registered = await resident.register_service(provider.payment_service_id, account_id)
    assert registered.status_code == 201, registered.text
    return Receiving(resident, grant["grant_id"], registered.json()["registration_id"])


async def request_receipt(receiving: Receiving) -> str:
    response = await receiving.resident.request_receipt(
        [receiving.grant_id], receiving.registration_id
    )
    assert response.status_code == 202, response.text
    [planned] = response.json()["receipts"]
    receiving.receipt_id = planned["receipt_id"]
    return str(planned["receipt_id"])


async def receiving_resident(
    hub: Hub, provider: Provider, account_id: str | None = None
) -> Receiving:
    receiving = await granted_resident(hub, provider, account_id)
    await request_receipt(receiving)
    return receiving


async def grant_state(receiving: Receiving) -> str:
    points = await receiving.resident.points()
    return str(next(g for g in points["grants"] if g["grant_id"] == receiving.grant_id)["state"])


async def wait_for_grant(receiving: Receiving, state: str, seconds: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    current = ""
    while asyncio.get_running_loop().time() < deadline:
        current = await grant_state(receiving)
        if current == state:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"grant {receiving.grant_id} is {current}, never {state}")


async def receipt_state(hub: Hub, receipt_id: str) -> str:
    from storage.models import Receipt

    async with hub.ctx.sessions() as session:
        receipt = await session.get(Receipt, receipt_id)
        assert receipt is not None
        return receipt.state


def applied_counts(ledger: dict[str, Any]) -> dict[str, int]:
    return {c["receipt_id"]: c["applied"] for c in ledger["credits"]}
