"""The issue's walk-through, read back from the audit log: a provider stops answering, the
receipt is marked stuck, support asks the provider and returns the points, the resident
receives them through another service; every step is an entry, and the chain verifies."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support.scenario import (
    add_provider,
    ensure_municipality,
    municipality_key,
    publish_measure,
)
from tests.support.stack import Hub


async def until(check: Any, seconds: float = 30) -> Any:
    for _ in range(int(seconds / 0.2)):
        if found := await check():
            return found
        await asyncio.sleep(0.2)
    raise AssertionError("condition never became true")


async def audit_of(hub: Hub, **filters: str) -> list[dict[str, Any]]:
    response = await hub.http.get(
        "/v1/operator/audit", params={"limit": 500, **filters}, headers=hub.operator_headers
    )
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["items"]))  # oldest first


async def test_every_step_of_a_support_return_is_on_the_record(hub: Hub) -> None:
    await ensure_municipality(hub)
    retry = {"initial_interval_s": 0.1, "backoff": 1.5, "max_interval_s": 0.3, "max_attempts": 3}
    failing, failing_service = await add_provider(hub, retry=retry)
    _, healthy_service = await add_provider(hub, retry=retry)
    measure_id = await publish_measure(
        hub, await municipality_key(hub), [failing_service, healthy_service]
    )
    key = await hub.http.post(
        "/v1/operator/api-keys", json={"role": "support"}, headers=hub.operator_headers
    )
    support = {"authorization": f"Bearer {key.json()['key']}"}
    support_actor = f"support:{key.json()['key_id']}"

    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    grant = (await resident.apply(measure_id)).json()["grants"][0]
    first = (await resident.register_service(failing_service, "acct-audit-1")).json()
    async with httpx.AsyncClient(base_url=hub.sim_url) as sim:
        await sim.patch(f"/p/{failing}/admin/faults", json={"error_rate": 1.0})
    requested = await resident.request_receipt([grant["grant_id"]], first["registration_id"])
    receipt_id = requested.json()["receipts"][0]["receipt_id"]

    async def stuck() -> bool:
        return any(
            e["action"] == "mark_receipt_stuck"
            for e in await audit_of(hub, object_type="receipt", object_id=receipt_id)
        )

    await until(stuck)
    async with httpx.AsyncClient(base_url=hub.sim_url) as sim:
        await sim.patch(f"/p/{failing}/admin/faults", json={"error_rate": 0.0})
    actions = f"/v1/support/receipts/{receipt_id}/actions"
    asked = await hub.http.post(
        actions,
        json={"action": "check_provider_status"},
        headers={**support, "X-Request-ID": "req-support-ask"},
    )
    assert asked.json()["provider_status"] == "not_found"
    returned = await hub.http.post(
        actions,
        json={"action": "return_to_unreceived", "note": "事業者側で未付与を確認"},
        headers={**support, "X-Request-ID": "req-support-return"},
    )
    assert returned.status_code == 200, returned.text
    second = (await resident.register_service(healthy_service, "acct-audit-2")).json()
    retried = await resident.request_receipt([grant["grant_id"]], second["registration_id"])
    second_receipt = retried.json()["receipts"][0]["receipt_id"]

    async def credited() -> bool:
        return (await resident.points())["totals"]["credited"] == 1000

    await until(credited)

    on_first = await audit_of(hub, object_type="receipt", object_id=receipt_id)
    steps = [(e["actor"].split(":")[0], e["action"], e["outcome"]) for e in on_first]
    assert steps[0] == ("resident", "claim_receipts", "claimed 1")
    assert steps.count(("provider-worker", "credit_attempt_failed", "provider_unavailable")) == 3
    assert ("workflow", "mark_receipt_stuck", "attempts_exhausted") in steps
    assert ("support", "POST /v1/support/receipts/{receipt_id}/actions", "200") in steps
    assert ("support", "return_receipt", "returned") in steps
    [ask] = await audit_of(hub, request_id="req-support-ask")
    [answer] = await audit_of(hub, request_id="req-support-return")
    assert ask["actor"] == answer["actor"] == support_actor
    returning = next(e for e in on_first if e["action"] == "return_receipt")
    assert returning["actor"] == support_actor
    assert returning["detail"]["note"] == "事業者側で未付与を確認"

    on_second = await audit_of(hub, object_type="receipt", object_id=second_receipt)
    assert [e["action"] for e in on_second][-1] == "record_credit_outcome"
    assert on_second[-1]["outcome"] == "credited"

    verified = await hub.http.post("/v1/operator/audit/verify", headers=hub.operator_headers)
    assert verified.json()["ok"] is True, verified.json()
