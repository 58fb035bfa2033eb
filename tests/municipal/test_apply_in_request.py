"""An application that needs no review is decided in the request: granted with its ledger line,
no workflow started; once the budget is gone the refusal answers from an unlocked read, even
while another transaction holds the measure's row; a measure with review keeps its workflow."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from domain.points import ledger_adds_up
from services.applications import application_ids
from storage.ledger import ledger_moves
from storage.models import Grant, Measure
from tests.municipal.conftest import Staff, resident_session


async def test_granted_in_the_request_without_a_workflow(staff: Staff) -> None:
    hub = staff.hub
    measure_id = await staff.published()
    mykey_id, headers = await resident_session(hub)
    response = await hub.http.post(f"/v1/measures/{measure_id}/applications", headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "granted" and [g["points"] for g in body["grants"]] == [1000]
    application_id, workflow_id = application_ids(hub.ctx, measure_id, mykey_id)
    assert body["application_id"] == application_id
    with pytest.raises(RPCError, match="not found"):
        await hub.client.get_workflow_handle(workflow_id).describe()
    again = await hub.http.post(f"/v1/measures/{measure_id}/applications", headers=headers)
    assert (again.status_code, again.json()["code"]) == (409, "already_applied")
    async with hub.ctx.sessions() as session:
        assert ledger_adds_up(await ledger_moves(session, measure_id=measure_id))


async def test_review_still_runs_in_the_workflow(staff: Staff) -> None:
    hub = staff.hub
    measure_id = await staff.published(review_required=True)
    mykey_id, headers = await resident_session(hub)
    response = await hub.http.post(f"/v1/measures/{measure_id}/applications", headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending_review"
    workflow_id = application_ids(hub.ctx, measure_id, mykey_id)[1]
    described = await hub.client.get_workflow_handle(workflow_id).describe()
    assert described.status == WorkflowExecutionStatus.RUNNING  # its review timers run there


async def test_budget_gone_refusal_does_not_wait_for_the_measure_lock(staff: Staff) -> None:
    hub = staff.hub
    if hub.ctx.engine.dialect.name != "postgresql":  # SQLite has no row locks to hold
        pytest.skip("needs HUB_TEST_DATABASE_URL (PostgreSQL)")
    measure_id = await staff.published(budget_points=1000)
    _, first = await resident_session(hub)
    _, second = await resident_session(hub)
    granted = await hub.http.post(f"/v1/measures/{measure_id}/applications", headers=first)
    assert granted.status_code == 201, granted.text

    async with hub.ctx.sessions.begin() as holder:
        # Another transaction holds the measure's row, as a grant being decided does.
        await holder.execute(select(Measure).where(Measure.id == measure_id).with_for_update())
        started = time.monotonic()
        refused = await asyncio.wait_for(
            hub.http.post(f"/v1/measures/{measure_id}/applications", headers=second), 10
        )
        assert time.monotonic() - started < 5
    assert (refused.status_code, refused.json()["code"]) == (409, "budget_exhausted")
    async with hub.ctx.sessions() as session:
        count = await session.execute(
            select(func.count()).select_from(Grant).where(Grant.measure_id == measure_id)
        )
        assert count.scalar_one() == 1
