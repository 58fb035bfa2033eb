"""One resident from login to credited points over HTTP, for tests that inspect what it left."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from simulators.resident_app import ResidentApp
from tests.support.scenario import Onboarded, onboard
from tests.support.stack import Hub


@dataclass
class Credited:
    setup: Onboarded
    resident: ResidentApp
    account_id: str
    grant_id: str
    receipt_id: str


async def wait_for_grant(resident: ResidentApp, grant_id: str, state: str) -> None:
    for _ in range(300):
        points = await resident.points()
        if any(g["grant_id"] == grant_id and g["state"] == state for g in points["grants"]):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"grant {grant_id} never reached {state}")


async def credited_resident(hub: Hub) -> Credited:
    setup = await onboard(hub)
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    applied = await resident.apply(setup.measure_id)
    assert applied.status_code == 201, applied.text
    [grant] = applied.json()["grants"]
    account_id = f"acct-{secrets.token_hex(5)}"
    registered = await resident.register_service(setup.payment_service_id, account_id)
    assert registered.status_code == 201, registered.text
    receipt = await resident.request_receipt(
        [grant["grant_id"]], registered.json()["registration_id"]
    )
    assert receipt.status_code == 202, receipt.text
    [planned] = receipt.json()["receipts"]
    await wait_for_grant(resident, grant["grant_id"], "credited")
    return Credited(setup, resident, account_id, grant["grant_id"], planned["receipt_id"])
