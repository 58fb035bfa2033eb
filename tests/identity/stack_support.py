"""Helpers for the identity tests that run the whole hub (`tests/support/stack.py`)."""

from __future__ import annotations

import asyncio
from typing import Any

from services.applications import application_ids
from simulators.resident_app import ResidentApp
from tests.support.stack import Hub
from workflows.application import ApplicationWorkflow


async def enrolled(hub: Hub, resident: ResidentApp, service_id: str, account: str) -> str:
    """Log in and register a payment account; returns the registration ID."""
    login = await resident.login()
    assert login.status_code == 201, login.text
    registered = await resident.register_service(service_id, account)
    assert registered.status_code == 201, registered.text
    registration_id: str = registered.json()["registration_id"]
    return registration_id


async def grant_of(resident: ResidentApp, measure_id: str) -> str:
    applied = await resident.apply(measure_id)
    assert applied.status_code == 201, applied.text
    [grant] = applied.json()["grants"]
    grant_id: str = grant["grant_id"]
    return grant_id


async def wait_for_grant(
    resident: ResidentApp, grant_id: str, states: set[str], seconds: float = 30
) -> dict[str, Any]:
    grant: dict[str, Any] = {}
    for _ in range(int(seconds / 0.1)):
        points = await resident.points()
        grant = next(g for g in points["grants"] if g["grant_id"] == grant_id)
        if grant["state"] in states:
            return grant
        await asyncio.sleep(0.1)
    raise AssertionError(f"grant {grant_id} never reached {states}: {grant}")


async def workflow_result(hub: Hub, measure_id: str, mykey_id: str, seconds: float = 60) -> Any:
    """The application workflow's final status, once it has ended."""
    workflow_id = application_ids(hub.ctx, measure_id, mykey_id)[1]
    handle = hub.client.get_workflow_handle_for(ApplicationWorkflow.run, workflow_id)
    return await asyncio.wait_for(handle.result(), timeout=seconds)
