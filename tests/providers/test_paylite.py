"""The bespoke PayLite adapter against the simulated PayLite over real HTTP: its token expires
and is renewed, its error codes map onto the one contract, yen become points and back."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from adapters.providers.contract import (
    CreditRequest,
    PermanentProviderError,
    TransientProviderError,
)
from adapters.providers.paylite import PayLiteAdapter, PayLiteConfig
from simulators.providers import SimProvider, SimProviderConfig, create_sim_app
from tests.providers.support import (
    applied_counts,
    onboard_provider,
    receiving_resident,
    wait_for_grant,
)
from tests.support.servers import serve
from tests.support.stack import Hub


@dataclass
class PayLite:
    adapter: PayLiteAdapter
    sim: SimProvider
    url: str

    async def admin(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url) as http:
            return await http.request(method, f"/p/{self.sim.config.provider_id}{path}", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def paylite() -> AsyncIterator[PayLite]:
    config = SimProviderConfig(
        provider_id="paylite-test",
        signing_secret="",
        mode="paylite",
        client_id="hub",
        client_secret=secrets.token_urlsafe(12),
        token_ttl_s=2,
    )
    app = create_sim_app([config])
    async with serve(app) as url:
        adapter = PayLiteAdapter(
            "paylite-test",
            PayLiteConfig(
                base_url=f"{url}/paylite/paylite-test",
                client_id="hub",
                client_secret=config.client_secret,
                yen_per_point=2,
                timeout_s=1,
            ),
        )
        try:
            yield PayLite(adapter, app.state.providers["paylite-test"], url)
        finally:
            await adapter.aclose()


def credit(receipt_id: str, account_id: str = "member-0001", points: int = 500) -> CreditRequest:
    return CreditRequest(receipt_id, account_id, points, "measure-1", "131016")


async def test_the_token_is_reused_then_renewed_when_it_expires(paylite: PayLite) -> None:
    adapter, sim = paylite.adapter, paylite.sim
    assert (await adapter.verify_account("member-0001", "1234")).valid
    assert (await adapter.credit(credit("r-1"))).status == "credited"
    assert sim.stats["tokens_issued"] == 1  # one token for both calls

    await asyncio.sleep(2.1)  # past the token's two-second life
    assert (await adapter.credit(credit("r-2"))).status == "credited"
    assert sim.stats["tokens_issued"] == 2
    assert sim.stats.get("expired_token_refused", 0) == 0  # renewed before PayLite refused it

    revoked = await paylite.admin("POST", "/admin/tokens/revoke")
    assert revoked.json()["revoked"] >= 1
    assert (await adapter.credit(credit("r-3"))).status == "credited"
    assert sim.stats["expired_token_refused"] == 1  # refused once, renewed, sent again
    assert sim.stats["tokens_issued"] == 3
    assert adapter.tokens_fetched == 3
    assert {k: c.applied for k, c in sim.credits.items()} == {"r-1": 1, "r-2": 1, "r-3": 1}


async def test_points_travel_as_yen(paylite: PayLite) -> None:
    outcome = await paylite.adapter.credit(credit("r-yen", points=750))
    assert outcome.status == "credited" and outcome.provider_reference
    assert paylite.sim.credits["r-yen"].points == 1500  # yen_per_point = 2
    status = await paylite.adapter.credit_status("r-yen")
    assert (status.status, status.provider_reference) == ("credited", outcome.provider_reference)
    assert (await paylite.adapter.credit_status("r-none")).status == "not_found"


async def test_paylite_error_codes_map_onto_the_contract(paylite: PayLite) -> None:
    adapter, sim = paylite.adapter, paylite.sim
    closed = await adapter.credit(credit("r-closed", account_id="closed-77"))
    assert (closed.status, closed.reason) == ("rejected", "account_closed")
    unknown = await adapter.credit(credit("r-unknown", account_id="unknown-77"))
    assert (unknown.status, unknown.reason) == ("rejected", "account_unknown")
    assert (await adapter.credit_status("r-closed")).status == "rejected"

    check = await adapter.verify_account("member-0002", "0000")  # wrong pin
    assert not check.valid
    assert (await adapter.verify_account("unknown-1", "1234")).status == "unknown"
    assert (await adapter.verify_account("closed-1", "1234")).status == "closed"

    await adapter.credit(credit("r-body"))
    with pytest.raises(PermanentProviderError, match="PL-3009"):
        await adapter.credit(credit("r-body", points=501))  # the same key, another body

    sim.config.burst_every, sim.config.burst_length, sim.config.retry_after_s = 1, 1, 7
    with pytest.raises(TransientProviderError) as limited:
        await adapter.credit(credit("r-limited"))
    assert limited.value.retry_after_s == 7.0
    sim.config.burst_every = 0

    sim.config.error_rate = 1.0
    with pytest.raises(TransientProviderError, match="PL-0503"):
        await adapter.credit(credit("r-down"))
    sim.config.error_rate = 0.0

    sim.config.timeout_after_apply_rate, sim.config.timeout_after_apply_ms = 1.0, 1500
    with pytest.raises(TransientProviderError, match="time-out"):
        await adapter.credit(credit("r-slow"))
    sim.config.timeout_after_apply_rate = 0.0
    again = await adapter.credit(credit("r-slow"))  # the retry finds the credit applied once
    assert again.status == "credited" and sim.credits["r-slow"].applied == 1


async def test_a_wrong_client_secret_is_permanent(paylite: PayLite) -> None:
    wrong = PayLiteAdapter(
        "paylite-test",
        PayLiteConfig(
            base_url=paylite.adapter.config.base_url, client_id="hub", client_secret="wrong"
        ),
    )
    try:
        with pytest.raises(PermanentProviderError):
            await wrong.credit(credit("r-wrong"))
    finally:
        await wrong.aclose()
    assert "r-wrong" not in paylite.sim.credits


async def test_a_paylite_receipt_is_credited_through_the_hub(hub: Hub) -> None:
    provider = await onboard_provider(hub, "paylite")
    residents = [await receiving_resident(hub, provider) for _ in range(2)]
    for receiving in residents:
        await wait_for_grant(receiving, "credited")
    ledger = await hub.sim_ledger(provider.provider_id)
    assert applied_counts(ledger) == {r.receipt_id: 1 for r in residents}
    assert {c["points"] for c in ledger["credits"]} == {1000}  # one yen per point by default
