"""An auto-granted resident never applies: the points are there, and they only ask to receive
them (SPEC §2, 一律付与). The application's workflow starts with that request, and its first
database step both loads the application and claims the grants."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import select
from temporalio.api.enums.v1 import EventType

from storage.models import Application
from tests.municipal.conftest import Staff, csv_of
from tests.support.histories import record


async def test_an_auto_granted_resident_only_asks_to_receive(staff: Staff) -> None:
    resident = staff.hub.resident()
    assert (await resident.login()).status_code == 201
    assert resident.mykey_id is not None
    measure_id = await staff.draft(target_list_only=True, auto_grant=True)
    await staff.put_csv(measure_id, csv_of([resident.mykey_id]))
    await staff.post(f"/measures/{measure_id}/publish")
    grant: dict = {}
    for _ in range(300):
        mine = [g for g in (await resident.points())["grants"] if g["measure_id"] == measure_id]
        if mine:
            [grant] = mine
            break
        await asyncio.sleep(0.1)
    assert grant.get("state") == "unreceived", grant

    registered = await resident.register_service(staff.payment_service_id, "acct-auto-1")
    registration_id = registered.json()["registration_id"]
    receipt = await resident.request_receipt([grant["grant_id"]], registration_id)
    assert receipt.status_code == 202, receipt.text
    for _ in range(300):
        points = await resident.points()
        state = next(g["state"] for g in points["grants"] if g["grant_id"] == grant["grant_id"])
        if state == "credited":
            break
        await asyncio.sleep(0.1)
    assert state == "credited"
    ledger = await staff.hub.sim_ledger(staff.provider_id)
    assert ledger["balances"]["acct-auto-1"] == 1000

    async with staff.hub.ctx.sessions() as session:
        application = (
            await session.execute(
                select(Application).where(
                    Application.measure_id == measure_id,
                    Application.mykey_id == resident.mykey_id,
                )
            )
        ).scalar_one()
    handle = staff.hub.client.get_workflow_handle(application.workflow_id)
    await handle.result()
    history = await handle.fetch_history()
    await record(handle, "application_bulk_granted_claimed_in_request")
    steps = [
        json.loads(e.marker_recorded_event_attributes.details["data"].payloads[0].data)[
            "activity_type"
        ]
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]
    # Claimed in the request: the run was started by the `receipts_claimed` signal with the
    # application's decision in it, so it needs no database step of its own to begin.
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert signals == ["receipts_claimed"], signals
    assert steps == [], steps
