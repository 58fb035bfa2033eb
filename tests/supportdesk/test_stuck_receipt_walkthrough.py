"""Issue walk-through: a provider stops answering; the receipt shows up as stuck with the right
reason; support asks for the status, the provider says it did not credit; support returns the
points; the resident receives them through another service."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from domain.points import ledger_adds_up
from storage.ledger import ledger_moves
from tests.support.scenario import (
    add_provider,
    ensure_municipality,
    municipality_key,
    publish_measure,
)
from tests.support.stack import Hub


async def support_headers(hub: Hub) -> dict[str, str]:
    response = await hub.http.post(
        "/v1/operator/api-keys", json={"role": "support"}, headers=hub.operator_headers
    )
    assert response.status_code == 201, response.text
    return {"authorization": f"Bearer {response.json()['key']}"}


async def set_faults(hub: Hub, provider_id: str, **knobs: Any) -> None:
    async with httpx.AsyncClient(base_url=hub.sim_url) as sim:
        response = await sim.patch(f"/p/{provider_id}/admin/faults", json=knobs)
        assert response.status_code == 200, response.text


async def until(check: Any, seconds: float = 30) -> Any:
    for _ in range(int(seconds / 0.2)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError("condition never became true")


async def test_support_finds_a_stuck_receipt_and_returns_its_points(hub: Hub) -> None:
    await ensure_municipality(hub)
    retry = {"initial_interval_s": 0.1, "backoff": 1.5, "max_interval_s": 0.3, "max_attempts": 3}
    failing, failing_service = await add_provider(hub, retry=retry)
    healthy, healthy_service = await add_provider(hub, retry=retry)
    key = await municipality_key(hub)
    measure_id = await publish_measure(hub, key, [failing_service, healthy_service])
    support = await support_headers(hub)

    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    grant = (await resident.apply(measure_id)).json()["grants"][0]
    first = (await resident.register_service(failing_service, "acct-failing")).json()
    await set_faults(hub, failing, error_rate=1.0)
    requested = await resident.request_receipt([grant["grant_id"]], first["registration_id"])
    assert requested.status_code == 202, requested.text
    receipt_id = requested.json()["receipts"][0]["receipt_id"]

    async def listed() -> dict[str, Any] | None:
        response = await hub.http.get(
            f"/v1/support/receipts/stuck?provider_id={failing}", headers=support
        )
        assert response.status_code == 200, response.text
        rows = [r for r in response.json()["items"] if r["receipt_id"] == receipt_id]
        return rows[0] if rows else None

    row = await until(listed)
    assert row["reasons"] == ["attempts_exhausted"]
    assert row["attempts"] == 3 and "503" in row["last_error"]
    assert row["last_error_code"] == "provider_unavailable"  # the failure's code, as recorded
    assert row["mykey_id"].startswith("****") and row["mykey_id"] != resident.mykey_id

    detail = (await hub.http.get(f"/v1/support/receipts/{receipt_id}", headers=support)).json()
    assert [e["state"] for e in detail["timeline"]] == ["requested", "crediting", "stuck"]
    assert detail["temporal_ui"].endswith(detail["workflow_id"])
    assert resident.mykey_id is not None
    assert resident.mykey_id not in str(detail["timeline"])
    assert detail["account_id"].endswith("ling") and "acct-failing" not in detail["account_id"]

    actions = f"/v1/support/receipts/{receipt_id}/actions"
    await set_faults(hub, failing, error_rate=0.0)
    asked = await hub.http.post(actions, json={"action": "check_provider_status"}, headers=support)
    assert asked.status_code == 200, asked.text
    assert asked.json()["provider_status"] == "not_found"
    returned = await hub.http.post(
        actions,
        json={"action": "return_to_unreceived", "note": "事業者側で未付与を確認"},
        headers=support,
    )
    assert returned.status_code == 200, returned.text
    assert returned.json()["receipt_state"] == "returned"
    again = await hub.http.post(actions, json={"action": "retry_now"}, headers=support)
    assert again.status_code == 409 and again.json()["code"] == "receipt_final"

    points = await resident.points()
    assert points["totals"]["unreceived"] == 1000
    second = (await resident.register_service(healthy_service, "acct-healthy")).json()
    retried = await resident.request_receipt([grant["grant_id"]], second["registration_id"])
    assert retried.status_code == 202, retried.text

    async def credited() -> bool:
        return (await resident.points())["totals"]["credited"] == 1000

    await until(credited)
    assert [c["applied"] for c in (await hub.sim_ledger(failing))["credits"]] == []
    assert [c["applied"] for c in (await hub.sim_ledger(healthy))["credits"]] == [1]

    overview = await hub.http.get(f"/v1/support/residents/{resident.mykey_id}", headers=support)
    assert overview.status_code == 200, overview.text
    body = overview.json()
    assert resident.mykey_id is not None
    assert body["mykey_id"] == "****" + resident.mykey_id[-4:]
    assert body["points"] == {"credited": 1000}
    assert sorted(r["state"] for r in body["receipts"]) == ["credited", "returned"]
    assert all("acct-" not in r["account_id"] for r in body["registrations"])
    detail = (await hub.http.get(f"/v1/support/receipts/{receipt_id}", headers=support)).json()
    assert detail["timeline"][-1]["state"] == "note"
    assert detail["timeline"][-1]["actor"].startswith("support:")
    async with hub.ctx.sessions() as session:
        assert ledger_adds_up(await ledger_moves(session, measure_id=measure_id))


async def test_support_routes_refuse_other_roles_and_unknown_receipts(hub: Hub) -> None:
    support = await support_headers(hub)
    missing = await hub.http.get("/v1/support/receipts/nope-r1", headers=support)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    note = await hub.http.post(
        "/v1/support/receipts/nope-r1/actions",
        json={"action": "add_note", "note": "x"},
        headers=support,
    )
    assert note.status_code == 404
    as_operator = await hub.http.get("/v1/support/receipts/stuck", headers=hub.operator_headers)
    assert as_operator.status_code == 403 and as_operator.json()["code"] == "forbidden"
