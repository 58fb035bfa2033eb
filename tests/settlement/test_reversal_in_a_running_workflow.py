"""A credit reversed while its application workflow still runs (an event registration stays open
until the receipt deadline): the workflow takes the reversal from the acknowledgement signal
(patch `credit-reversal`), so the resident can ask for the points again at once."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from temporalio.client import WorkflowExecutionStatus

from storage.models import Receipt
from tests.api.roles import api_key
from tests.providers.support import wait_for_grant
from tests.reviews.test_attendance_and_review_api import at
from tests.settlement.support import breaks_of, send, statement, sync_provider, today
from tests.support.histories import record
from tests.support.scenario import MUNICIPALITY, municipality_key, publish_measure
from tests.support.stack import Hub
from workflows.application import ApplicationWorkflow


async def test_the_running_workflow_takes_the_reversal(hub: Hub) -> None:
    provider = await sync_provider(hub)
    key = await municipality_key(hub)
    measure_id = await publish_measure(
        hub,
        key,
        [provider.payment_service_id],
        kind="event",
        points_per_grant=100,
        per_person_cap=10_000,
        opens_at=at(timedelta(days=-3)),
    )
    provider = dataclasses.replace(provider, measure_id=measure_id)
    event = await hub.http.post(
        f"/v1/municipalities/{MUNICIPALITY}/measures/{measure_id}/events",
        json={
            "title": "清掃",
            "starts_at": at(timedelta(hours=-1)),
            "ends_at": at(timedelta(hours=1)),
            "points": 300,
        },
        headers={"authorization": f"Bearer {key}"},
    )
    assert event.status_code == 201, event.text
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    assert (await resident.apply(measure_id)).json()["status"] == "registered"
    report = await resident.post(
        "/v1/me/attendance-reports", {"qr_payload": event.json()["qr_payload"]}
    )
    grant_id = report.json()["grant"]["grant_id"]
    registered = await resident.register_service(provider.payment_service_id, "acct-event-0001")
    registration_id = registered.json()["registration_id"]
    requested = await resident.request_receipt([grant_id], registration_id)
    receipt_id = requested.json()["receipts"][0]["receipt_id"]

    class Receiving:  # what wait_for_grant reads
        def __init__(self) -> None:
            self.resident, self.grant_id = resident, grant_id

    await wait_for_grant(Receiving(), "credited")  # type: ignore[arg-type]
    async with hub.ctx.sessions() as session:
        row = await session.get(Receipt, receipt_id)
        assert row is not None
        workflow_id = row.workflow_id
    handle = hub.client.get_workflow_handle(workflow_id)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

    await send(hub, provider, today(), statement([]))
    [missing] = [
        r for r in await breaks_of(hub, provider.provider_id) if r.receipt_id == receipt_id
    ]
    hub.sim_providers[provider.provider_id].credits.pop(receipt_id)
    resolved = await hub.http.post(
        f"/v1/support/reconciliation/breaks/brk_{missing.id}/resolve",
        json={"resolution": "provider_confirmed_no_credit", "note": "事業者の障害で未付与"},
        headers=await api_key(hub, "support"),
    )
    assert resolved.status_code == 200, resolved.text

    for _ in range(100):
        status = await handle.query(ApplicationWorkflow.status)
        if status.grants[0].state == "unreceived":
            break
    assert [g.state for g in status.grants] == ["unreceived"]
    assert [r.state for r in status.receipts] == ["returned"]
    again = await resident.request_receipt([grant_id], registration_id)
    assert again.status_code == 202, again.text
    await wait_for_grant(Receiving(), "credited")  # type: ignore[arg-type]
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    await record(handle, "application_credit_reversed_claimed_in_request")
