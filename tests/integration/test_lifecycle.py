"""End to end over HTTP: card login → application → registration → receipt → credited,
against a real Temporal dev server, worker, provider simulator and database."""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from domain.points import ledger_adds_up
from hub.temporal import data_converter
from hub.workers import WORKFLOWS
from services.applications import application_ids
from storage.ledger import ledger_moves
from tests.support.histories import record
from tests.support.scenario import onboard
from tests.support.stack import Hub
from workflows.application import ApplicationWorkflow


def planned_workflow_id(hub: Hub, setup, resident) -> str:
    return application_ids(hub.ctx, setup.measure_id, resident.mykey_id)[1]


def lean_history(history: WorkflowHistory) -> dict[str, object]:
    """What a lifecycle costs the Temporal server, read off its history (workflow revision 1,
    `workflows/revisions.py`): events, markers by name, search-attribute upserts, timers."""
    kinds = [event.event_type for event in history.events]
    return {
        "events": len(kinds),
        "markers": [
            event.marker_recorded_event_attributes.marker_name
            for event in history.events
            if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        ],
        "upserts": kinds.count(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES),
        "timers": kinds.count(EventType.EVENT_TYPE_TIMER_STARTED),
    }


async def wait_for_state(resident, grant_id: str, state: str, seconds: float = 30) -> dict:
    points: dict = {}
    for _ in range(int(seconds / 0.1)):
        points = await resident.points()
        grant = next(g for g in points["grants"] if g["grant_id"] == grant_id)
        if grant["state"] == state:
            return points
        await asyncio.sleep(0.1)
    raise AssertionError(f"grant {grant_id} never reached {state}: {points}")


async def test_points_travel_from_application_to_provider_confirmation(backend_hub: Hub) -> None:
    hub = backend_hub
    setup = await onboard(hub)
    resident = hub.resident()

    login = await resident.login()
    assert login.status_code == 201, login.text
    assert login.json()["mykey_issued"] is True

    applied = await resident.apply(setup.measure_id)
    assert applied.status_code == 201, applied.text
    decision = applied.json()
    assert decision["status"] == "granted"
    [grant] = decision["grants"]
    assert grant["points"] == 1000 and grant["state"] == "unreceived"

    again = await resident.apply(setup.measure_id)
    assert again.status_code == 409
    assert again.json()["code"] == "already_applied"

    registered = await resident.register_service(setup.payment_service_id, "acct-0001")
    assert registered.status_code == 201, registered.text
    registration_id = registered.json()["registration_id"]

    receipt = await resident.request_receipt([grant["grant_id"]], registration_id)
    assert receipt.status_code == 202, receipt.text
    [planned] = receipt.json()["receipts"]

    points = await wait_for_state(resident, grant["grant_id"], "credited")
    assert points["totals"]["credited"] == 1000
    assert points["totals"]["unreceived"] == 0

    ledger = await hub.sim_ledger(setup.provider_id)
    credits = [c for c in ledger["credits"] if c["receipt_id"] == planned["receipt_id"]]
    assert [c["applied"] for c in credits] == [1]
    assert ledger["balances"]["acct-0001"] == 1000

    receipts = (await resident.get("/v1/me/receipts")).json()["items"]
    assert [(r["receipt_id"], r["state"]) for r in receipts] == [
        (planned["receipt_id"], "credited")
    ]

    handle = hub.client.get_workflow_handle_for(
        ApplicationWorkflow.run, planned_workflow_id(hub, setup, resident)
    )
    status = await handle.result()
    assert status.status == "finished"
    await record(handle, "application_sync_credit_claimed_in_request")
    replayed = await Replayer(workflows=WORKFLOWS, data_converter=data_converter()).replay_workflow(
        await handle.fetch_history(), raise_on_replay_failure=False
    )
    assert replayed.replay_failure is None
    assert lean_history(await handle.fetch_history()) == {
        "events": 13,
        "markers": [],  # claimed in the request; the credit call recorded the answer itself
        "upserts": 1,  # the last state; the first labels came with the start
        "timers": 0,  # no grant waited for a receipt once the request was taken
    }

    async with hub.ctx.sessions() as session:
        moves = await ledger_moves(session, measure_id=setup.measure_id)
    assert ledger_adds_up(moves)
    assert [m.to_state.value for m in moves] == [
        "unreceived",
        "receipt_requested",
        "crediting",
        "credited",
    ]
