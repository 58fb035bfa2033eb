"""Pull mode (SPEC §5): the provider lists its pending credit requests and acknowledges them; a
provider key sees and answers only its own receipts; acknowledgements are idempotent and a
contradicting one is 409 `ack_conflict`."""

from __future__ import annotations

import asyncio

from domain.identifiers import contains_my_number, my_number_check_digit
from storage.models import Receipt
from storage.models.providers import ProviderAcknowledgement
from tests.providers.support import (
    applied_counts,
    onboard_provider,
    receipt_state,
    receiving_resident,
    wait_for_grant,
)
from tests.support.stack import Hub

DIGITS = "12345678901"  # eleven digits; the twelfth is their My Number check digit


async def pending_ids(
    hub: Hub, provider_id: str, headers: dict[str, str], **params: int
) -> list[str]:
    response = await hub.http.get(
        f"/v1/providers/{provider_id}/credit-requests",
        params={"status": "pending", **params},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return [r["receipt_id"] for r in response.json()["items"]]


async def wait_pending(
    hub: Hub, provider_id: str, headers: dict[str, str], count: int
) -> list[str]:
    for _ in range(200):
        ids = await pending_ids(hub, provider_id, headers)
        if len(ids) >= count:
            return ids
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} pending credit requests never showed")


async def test_listing_and_acknowledging_are_scoped_to_the_provider(hub: Hub) -> None:
    # Neither simulated provider polls: the test is the provider.
    mine = await onboard_provider(hub, "pull", sim={"hub_api_key": ""})
    theirs = await onboard_provider(hub, "pull", sim={"hub_api_key": ""})
    first = await receiving_resident(hub, mine)
    second = await receiving_resident(hub, mine)
    other = await receiving_resident(hub, theirs)

    listed = await wait_pending(hub, mine.provider_id, mine.headers, 2)
    assert sorted(listed) == sorted([str(first.receipt_id), str(second.receipt_id)])
    assert await pending_ids(hub, mine.provider_id, mine.headers, limit=1) == listed[:1]
    row = (
        await hub.http.get(
            f"/v1/providers/{mine.provider_id}/credit-requests", headers=mine.headers
        )
    ).json()["items"][0]
    assert row.keys() >= {"receipt_id", "account_id", "points", "measure_id", "municipality_code"}
    assert row["points"] == 1000

    # Another provider's path, or another provider's receipt: 404, never 403.
    response = await hub.http.get(
        f"/v1/providers/{theirs.provider_id}/credit-requests", headers=mine.headers
    )
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    response = await hub.http.post(
        f"/v1/providers/{mine.provider_id}/credit-requests/{other.receipt_id}/ack",
        json={"status": "credited"},
        headers=mine.headers,
    )
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    # …and changed nothing: the receipt is still open (its own credit call may not have run yet).
    assert other.receipt_id and await receipt_state(hub, other.receipt_id) in (
        "requested",
        "crediting",
        "accepted",
    )

    ack_url = f"/v1/providers/{mine.provider_id}/credit-requests/{first.receipt_id}/ack"
    answer = {"status": "credited", "provider_reference": "ref-1"}
    response = await hub.http.post(ack_url, json=answer, headers=mine.headers)
    assert response.status_code == 200 and response.json()["result"] == "recorded"
    response = await hub.http.post(ack_url, json=answer, headers=mine.headers)
    assert response.status_code == 200 and response.json()["result"] == "duplicate"
    response = await hub.http.post(
        ack_url, json={"status": "rejected", "reason": "account_closed"}, headers=mine.headers
    )
    assert response.status_code == 409 and response.json()["code"] == "ack_conflict"
    response = await hub.http.post(
        ack_url, json={"status": "credited", "provider_reference": "ref-2"}, headers=mine.headers
    )
    assert response.status_code == 409 and response.json()["code"] == "ack_conflict"
    await wait_for_grant(first, "credited")
    assert await pending_ids(hub, mine.provider_id, mine.headers) == [second.receipt_id]

    response = await hub.http.post(
        f"/v1/providers/{mine.provider_id}/credit-requests/{second.receipt_id}/ack",
        json={"status": "rejected", "reason": "account_closed"},
        headers=mine.headers,
    )
    assert response.status_code == 200
    await wait_for_grant(second, "unreceived")
    async with hub.ctx.sessions() as session:
        ack = await session.get(ProviderAcknowledgement, first.receipt_id)
        assert ack is not None and ack.provider_reference == "ref-1" and ack.source == "pull"


async def test_acknowledgement_bodies_are_checked(hub: Hub) -> None:
    provider = await onboard_provider(hub, "pull", sim={"hub_api_key": ""})
    receiving = await receiving_resident(hub, provider)
    await wait_pending(hub, provider.provider_id, provider.headers, 1)
    url = f"/v1/providers/{provider.provider_id}/credit-requests/{receiving.receipt_id}/ack"
    for body in ({"status": "maybe"}, {"status": "credited", "extra": 1}, {}):
        response = await hub.http.post(url, json=body, headers=provider.headers)
        assert response.status_code == 422 and response.json()["code"] == "validation_error"
    response = await hub.http.post(
        url,
        json={"status": "rejected", "reason": "本人確認 1234-5678-9018"},
        headers=provider.headers,
    )
    assert response.status_code == 422 and response.json()["code"] == "contains_my_number"
    response = await hub.http.get(
        f"/v1/providers/{provider.provider_id}/credit-requests",
        params={"status": "done"},
        headers=provider.headers,
    )
    assert response.status_code == 422
    assert receiving.receipt_id and await receipt_state(hub, receiving.receipt_id) != "rejected"


async def test_a_reference_that_reads_like_a_my_number_is_kept(hub: Hub) -> None:
    """A provider reference is the provider's identifier, not prose: twelve digits that happen
    to pass the My Number check digit are recorded as sent, never refused (the credit was made,
    and refusing its acknowledgement would leave the receipt waiting for ever)."""
    provider = await onboard_provider(hub, "pull", sim={"hub_api_key": ""})
    receiving = await receiving_resident(hub, provider)
    await wait_pending(hub, provider.provider_id, provider.headers, 1)
    reference = f"{provider.provider_id}-{DIGITS}{my_number_check_digit(DIGITS)}"
    assert contains_my_number(reference)
    url = f"/v1/providers/{provider.provider_id}/credit-requests/{receiving.receipt_id}/ack"
    answer = {"status": "credited", "provider_reference": reference}
    response = await hub.http.post(url, json=answer, headers=provider.headers)
    assert response.status_code == 200 and response.json()["result"] == "recorded", response.text
    response = await hub.http.post(url, json=answer, headers=provider.headers)
    assert response.status_code == 200 and response.json()["result"] == "duplicate", response.text
    await wait_for_grant(receiving, "credited")
    async with hub.ctx.sessions() as session:
        ack = await session.get(ProviderAcknowledgement, receiving.receipt_id)
        receipt = await session.get(Receipt, receiving.receipt_id)
    assert ack is not None and ack.provider_reference == reference
    assert receipt is not None and receipt.provider_reference == reference


async def test_a_polling_provider_credits_every_request_once(hub: Hub) -> None:
    provider = await onboard_provider(hub, "pull", sim={"ack_duplicate_rate": 0.5, "seed": 3})
    residents = [await receiving_resident(hub, provider) for _ in range(5)]
    for receiving in residents:
        await wait_for_grant(receiving, "credited")
    ledger = await hub.sim_ledger(provider.provider_id)
    assert applied_counts(ledger) == {r.receipt_id: 1 for r in residents}
    assert ledger["stats"].get("acks_200", 0) >= len(residents)
