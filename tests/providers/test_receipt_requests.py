"""Receipt requests over HTTP (SPEC §3, §5): only unreceived grants, a destination the measure
offers and that has started, a destination fixed at application, a fresh card proof; once
requested, the destination never changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.providers.support import (
    granted_resident,
    onboard_provider,
    receipt_state,
    request_receipt,
    wait_for_grant,
)
from tests.support.scenario import municipality_key, publish_measure
from tests.support.stack import Hub


def assert_code(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text


async def test_each_refusal_of_a_receipt_request(hub: Hub) -> None:
    offered = await onboard_provider(hub, "sync")
    elsewhere = await onboard_provider(hub, "sync")
    receiving = await granted_resident(hub, offered)
    resident = receiving.resident
    other = await resident.register_service(elsewhere.payment_service_id, "acct-elsewhere-1")
    assert other.status_code == 201
    other_registration = other.json()["registration_id"]

    response = await resident.request_receipt([receiving.grant_id], other_registration)
    assert_code(response, 422, "destination_not_eligible")

    no_proof = await resident.post(
        "/v1/me/receipts",
        {"grant_ids": [receiving.grant_id], "payment_service_registration_id": other_registration},
    )
    assert_code(no_proof, 401, "card_proof_required")

    receipt_id = await request_receipt(receiving)
    again = await resident.request_receipt([receiving.grant_id], receiving.registration_id)
    assert_code(again, 409, "grant_not_unreceived")
    moved = await resident.request_receipt([receiving.grant_id], other_registration)
    assert moved.status_code in (409, 422)  # never to another destination once requested
    await wait_for_grant(receiving, "credited")
    assert await receipt_state(hub, receipt_id) == "credited"


async def test_a_service_not_yet_started_is_hidden_and_refused(hub: Hub) -> None:
    started = await onboard_provider(hub, "sync")
    later = await onboard_provider(hub, "sync")
    now = datetime.now(UTC)
    measure_id = await publish_measure(
        hub,
        await municipality_key(hub),
        [],
        payment_services=[
            {
                "payment_service_id": started.payment_service_id,
                "available_from": (now - timedelta(days=1)).isoformat(),
            },
            {
                "payment_service_id": later.payment_service_id,
                "available_from": (now + timedelta(days=3)).isoformat(),
            },
        ],
    )
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    shown = (await resident.get(f"/v1/measures/{measure_id}")).json()
    assert [s["payment_service_id"] for s in shown["payment_services"]] == [
        started.payment_service_id
    ]
    listed = (await resident.get("/v1/measures")).json()["items"]
    mine = next(m for m in listed if m["measure_id"] == measure_id)
    assert later.payment_service_id not in {
        s["payment_service_id"] for s in mine["payment_services"]
    }

    applied = await resident.apply(measure_id)
    [grant] = applied.json()["grants"]
    registered = await resident.register_service(later.payment_service_id, "acct-later-7")
    response = await resident.request_receipt(
        [grant["grant_id"]], registered.json()["registration_id"]
    )
    assert_code(response, 422, "destination_not_available_yet")
    assert response.json()["available_from"].startswith(str((now + timedelta(days=3)).date()))


async def test_a_destination_fixed_at_application_cannot_change(hub: Hub) -> None:
    provider = await onboard_provider(hub, "sync")
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    fixed = await resident.register_service(provider.payment_service_id, "acct-fixed-1")
    second = await resident.register_service(provider.payment_service_id, "acct-fixed-2")
    fixed_id, second_id = fixed.json()["registration_id"], second.json()["registration_id"]
    applied = await resident.apply(provider.measure_id, fixed_id)
    assert applied.status_code == 201, applied.text
    [grant] = applied.json()["grants"]
    response = await resident.request_receipt([grant["grant_id"]], second_id)
    assert_code(response, 409, "destination_fixed")
    response = await resident.request_receipt([grant["grant_id"]], fixed_id)
    assert response.status_code == 202, response.text
