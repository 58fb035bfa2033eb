"""Support acting on a receipt that is already final, after its workflow has ended: refused
`receipt_final` (409) at once, never 404, and no empty workflow run started for it."""

from __future__ import annotations

from temporalio.client import WorkflowExecutionStatus

from services.applications import application_ids
from tests.audit.lifecycle import credited_resident
from tests.support.stack import Hub
from tests.supportdesk.test_stuck_receipt_walkthrough import support_headers


async def test_an_action_on_a_credited_receipt_is_refused_as_final(hub: Hub) -> None:
    done = await credited_resident(hub)
    workflow_id = application_ids(hub.ctx, done.setup.measure_id, done.resident.mykey_id or "")[1]
    handle = hub.client.get_workflow_handle(workflow_id)
    await handle.result()  # every grant final: the workflow has ended
    run_id = (await handle.describe()).run_id
    support = await support_headers(hub)

    for action in ("retry_now", "check_provider_status", "return_to_unreceived"):
        response = await hub.http.post(
            f"/v1/support/receipts/{done.receipt_id}/actions",
            json={"action": action},
            headers=support,
        )
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "receipt_final"

    latest = await hub.client.get_workflow_handle(workflow_id).describe()
    assert latest.run_id == run_id  # no new run was started to answer
    assert latest.status == WorkflowExecutionStatus.COMPLETED
