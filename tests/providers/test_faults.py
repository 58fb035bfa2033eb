"""Crediting under provider faults: 429 bursts with `Retry-After`, errors and time-outs after the
credit was applied end with exactly one credit per receipt; an outage of one provider never slows
another, because each provider has its own task queue, worker and rate limit."""

from __future__ import annotations

import asyncio

import httpx

from storage.models import Receipt
from tests.providers.support import (
    Provider,
    Receiving,
    applied_counts,
    granted_resident,
    onboard_provider,
    request_receipt,
    wait_for_grant,
)
from tests.support.stack import Hub


async def attempts(hub: Hub, receipt_ids: list[str]) -> dict[str, int]:
    async with hub.ctx.sessions() as session:
        found = {}
        for receipt_id in receipt_ids:
            receipt = await session.get(Receipt, receipt_id)
            assert receipt is not None
            found[receipt_id] = receipt.attempts
        return found


async def credit_all(residents: list[Receiving], seconds: float = 60) -> float:
    """Request every receipt at once; seconds until every grant is credited."""
    started = asyncio.get_running_loop().time()
    await asyncio.gather(*(request_receipt(r) for r in residents))
    await asyncio.gather(*(wait_for_grant(r, "credited", seconds) for r in residents))
    return asyncio.get_running_loop().time() - started


async def test_bursts_errors_and_late_answers_still_credit_exactly_once(hub: Hub) -> None:
    provider = await onboard_provider(hub, "sync")
    residents = [await granted_resident(hub, provider) for _ in range(8)]
    faults = {
        "burst_every": 4,
        "burst_length": 2,
        "retry_after_s": 1,
        "error_rate": 0.25,
        "timeout_after_apply_rate": 0.3,
        "timeout_after_apply_ms": 2600,  # the adapter gives up after two seconds
    }
    async with httpx.AsyncClient(base_url=hub.sim_url) as sim:  # knobs turned at runtime
        answer = await sim.patch(f"/p/{provider.provider_id}/admin/faults", json=faults)
        assert answer.status_code == 200, answer.text
    provider.sim.rng.seed(11)
    await credit_all(residents, seconds=90)
    ledger = await hub.sim_ledger(provider.provider_id)
    assert applied_counts(ledger) == {r.receipt_id: 1 for r in residents}
    stats = ledger["stats"]
    assert stats["answered_429"] >= 1
    assert stats.get("answered_503", 0) + stats.get("answered_too_late", 0) >= 1
    tried = await attempts(hub, [str(r.receipt_id) for r in residents])
    assert max(tried.values()) > 1  # retried, and still credited once


async def test_an_outage_of_one_provider_never_slows_the_others(hub: Hub) -> None:
    healthy = await onboard_provider(hub, "sync")
    # The failing provider is also slow to be called: two calls a second. Were the queues
    # shared, its retries would hold the healthy provider's credits behind that limit.
    failing: Provider = await onboard_provider(hub, "sync", rate_limit_per_s=2)
    before = [await granted_resident(hub, healthy) for _ in range(5)]
    baseline = await credit_all(before)

    stranded = [await granted_resident(hub, failing) for _ in range(6)]
    failing.sim.config.error_rate, failing.sim.config.latency_ms = 1.0, 500
    await asyncio.gather(*(request_receipt(r) for r in stranded))
    await asyncio.sleep(1.0)  # its credits are failing and backing off now
    during = [await granted_resident(hub, healthy) for _ in range(5)]
    elapsed = await credit_all(during)
    print(f"healthy provider: {baseline:.2f} s alone, {elapsed:.2f} s during the outage")
    assert elapsed < baseline * 2 + 3.0, (baseline, elapsed)
    stuck_ids = [str(r.receipt_id) for r in stranded]
    assert applied_counts(await hub.sim_ledger(failing.provider_id)) == {}  # nothing got through

    failing.sim.config.error_rate, failing.sim.config.latency_ms = 0.0, 0
    await asyncio.gather(*(wait_for_grant(r, "credited", 60) for r in stranded))
    recovered = applied_counts(await hub.sim_ledger(failing.provider_id))
    assert recovered == {r.receipt_id: 1 for r in stranded}
    tried = await attempts(hub, stuck_ids)
    assert sum(tried.values()) > len(stuck_ids), tried  # the outage cost retries, not credits
    assert applied_counts(await hub.sim_ledger(healthy.provider_id)) == {
        r.receipt_id: 1 for r in before + during
    }
