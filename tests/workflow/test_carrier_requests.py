"""Issue 17 item 3: two `request_receipt` updates for the same grants, validated in one workflow
activation, both pass the validator (the grant is still `unreceived` for each) and both get the
same plans back from the claim (it is idempotent). One carrier must carry the receipt: one credit
at the provider, one receipt, one ledger line into `credited`, and both callers told the same."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.points import ledger_adds_up
from services.context import HubContext
from storage.ledger import ledger_moves
from storage.models import Receipt
from tests.support.fake_provider import FakeProvider
from tests.support.histories import record
from tests.workflow.receipts_support import (
    hub_workers,
    provider_catalog,
    registered_resident,
    start_applied,
)
from tests.workflow.test_receipt_outcomes import grant_state
from workflows.application import ApplicationWorkflow
from workflows.messages import ReceiptRequest


async def _accepted_in_one_task(handle: WorkflowHandle[Any, Any]) -> list[int]:
    """The workflow task (its completion event ID) in which each `request_receipt` update was
    accepted."""
    tasks = []
    last_completed = 0
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            last_completed = event.event_id
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            name = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if name.input.name == "request_receipt":
                tasks.append(last_completed)
    return tasks


async def test_two_receipt_requests_in_one_activation_credit_once(
    skipping_env: WorkflowEnvironment, ctx: HubContext
) -> None:
    fake = FakeProvider()  # credits synchronously
    measure_id, service_id, _ = await provider_catalog(ctx)
    mykey_id, registration_id = await registered_resident(ctx, service_id)
    queue = f"hub-{secrets.token_hex(3)}"
    async with hub_workers(skipping_env, ctx, fake, queue=queue, sticky=False):
        handle, decision = await start_applied(skipping_env, ctx, queue, measure_id, mykey_id)
    [grant] = decision.grants
    request = ReceiptRequest(grant_ids=[grant.grant_id], registration_id=registration_id)

    # No worker polls: both updates wait at the server and reach the next worker together.
    first = asyncio.create_task(handle.execute_update(ApplicationWorkflow.request_receipt, request))
    second = asyncio.create_task(
        handle.execute_update(ApplicationWorkflow.request_receipt, request)
    )
    await asyncio.sleep(1.0)  # both sent before a worker polls (not an assertion's timing)
    async with hub_workers(skipping_env, ctx, fake, queue=queue):
        tickets = await asyncio.gather(first, second)
        status = await handle.result()
        await record(handle, "application_two_requests_one_activation")

    tasks = await _accepted_in_one_task(handle)
    assert len(tasks) == 2 and tasks[0] == tasks[1], f"not one activation: {tasks}"
    # Both callers are told the same receipt.
    [[one], [other]] = [ticket.receipts for ticket in tickets]
    assert one.receipt_id == other.receipt_id
    # One credit at the provider, one receipt in the hub, credited, and the ledger adds up.
    assert fake.applied == {one.receipt_id: 1}
    assert fake.calls == 1
    assert status.status == "finished"
    assert [(r.plan.receipt_id, r.state) for r in status.receipts] == [(one.receipt_id, "credited")]
    async with ctx.sessions() as session:
        rows = await session.execute(select(Receipt).where(Receipt.grant_id == grant.grant_id))
        assert [(r.id, r.state) for r in rows.scalars()] == [(one.receipt_id, "credited")]
        moves = await ledger_moves(session, measure_id=measure_id)
        assert ledger_adds_up(moves)
        assert [m.points for m in moves if m.to_state.value == "credited"] == [grant.points]
    assert await grant_state(ctx, grant.grant_id) == "credited"
