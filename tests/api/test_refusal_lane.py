"""Once an API process has seen a measure's budget used up, an application to it is refused in a
lane of its own (`api/refusal_lane.py`): not behind the requests in flight, not behind the main
pool's connections, with its audit entry written all the same; the answer is still the request's
own (`already_applied` for a resident who applied before). A measure the process has not seen
used up waits in the queue like any other request."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.exc import TimeoutError as NoFreeConnection

from api.app import create_app
from simulators.resident_app import ResidentApp
from storage.models.audit import AuditEntry
from tests.api.test_no_request_hangs import WAIT_S, as_resident
from tests.support.scenario import add_provider, ensure_municipality, municipality_key
from tests.support.scenario import publish_measure as published
from tests.support.servers import serve
from tests.support.stack import Hub

ONE_GRANT: dict[str, Any] = {
    "points_per_grant": 1000,
    "per_person_cap": 1000,
    "budget_points": 1000,
}


@asynccontextmanager
async def second_api(
    hub: Hub, **overrides: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An API process of its own on the hub's database (its own lane, its own pools); its task
    queue is polled by no worker, so a request that waits on a workflow holds its place."""
    settings = hub.settings.model_copy(
        update={
            "task_queue": "nobody-polls-this",
            "workflow_wait_s": WAIT_S,
            "workflow_keep_trying_s": 2.0,
            "api_refusal_lane_max_in_flight": 64,  # off by default
            **overrides,
        }
    )
    app = create_app(settings)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield app, http


async def _one_grant_measure(hub: Hub) -> tuple[str, str]:
    """(measure whose budget covers one grant, measure with review) of a new municipality key."""
    await ensure_municipality(hub)
    _, service_id = await add_provider(hub)
    key = await municipality_key(hub)
    plain = await published(hub, key, [service_id], **ONE_GRANT)
    reviewed = await published(hub, key, [service_id], review_required=True)
    return plain, reviewed


async def _signed_in(hub: Hub, count: int) -> list[ResidentApp]:
    residents = [hub.resident() for _ in range(count)]
    for resident in residents:
        assert (await resident.login()).status_code == 201
    return residents


def _code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json().get("code", "")


async def test_the_lane_passes_a_full_in_flight_limit(hub: Hub) -> None:
    measure_id, reviewed = await _one_grant_measure(hub)
    first, second, third = await _signed_in(hub, 3)
    assert (await first.apply(measure_id)).status_code == 201  # the budget's one grant

    async with second_api(hub, api_max_in_flight=1) as (app, http):
        lane = app.state.refusal_lane
        assert not lane.takes({"method": "POST", "path": f"/v1/measures/{measure_id}/applications"})
        refused = await as_resident(http, second).apply(measure_id)  # decided in the queue
        assert _code(refused) == (409, "budget_exhausted")
        assert lane.takes({"method": "POST", "path": f"/v1/measures/{measure_id}/applications"})

        holding = asyncio.create_task(as_resident(http, first).apply(reviewed))  # the one place
        await asyncio.sleep(0.5)
        assert _code(await as_resident(http, third).get("/v1/me")) == (503, "overloaded")
        started = time.monotonic()
        in_lane = await as_resident(http, third).apply(measure_id)
        again = await as_resident(http, first).apply(measure_id)
        assert time.monotonic() - started < WAIT_S  # neither waited for the held place
        assert _code(in_lane) == (409, "budget_exhausted")
        assert _code(again) == (409, "already_applied")  # the request's own answer
        assert _code(await holding) == (503, "temporal_unavailable")
        assert lane.in_flight == 0


async def test_the_lane_passes_a_taken_pool_and_its_refusals_are_audited(hub: Hub) -> None:
    measure_id, _ = await _one_grant_measure(hub)
    unseen, _ = await _one_grant_measure(hub)  # used up too, but not before this process
    first, second, third = await _signed_in(hub, 3)
    assert (await first.apply(measure_id)).status_code == 201
    assert (await first.apply(unseen)).status_code == 201
    assert _code(await second.apply(unseen)) == (409, "budget_exhausted")  # another process

    async with second_api(hub, api_database_wait_s=0.5) as (app, http), AsyncExitStack() as held:
        assert _code(await as_resident(http, second).apply(measure_id)) == (
            409,
            "budget_exhausted",
        )
        with contextlib.suppress(NoFreeConnection):  # every connection of the main pool taken
            while True:
                await held.enter_async_context(app.state.hub.engine.connect())

        refused = await as_resident(http, third).apply(measure_id)
        assert _code(refused) == (409, "budget_exhausted")
        # The same refusal for a measure this process has not seen used up queues, and is shed.
        assert _code(await as_resident(http, third).apply(unseen)) == (503, "overloaded")

        request_id = refused.headers["x-request-id"]
        async with hub.ctx.sessions() as session:
            entry = (
                await session.execute(select(AuditEntry).where(AuditEntry.request_id == request_id))
            ).scalar_one()
        assert entry.outcome == "409 budget_exhausted"
        assert entry.actor == f"resident:{third.mykey_id}"
        assert entry.object_id == measure_id


async def test_audit_entries_do_not_wait_for_the_lane(hub: Hub) -> None:
    """The audit writer's commits have a connection of their own: with every connection of the
    lane's pool taken, a write is still answered, its entry on the record."""
    measure_id, _ = await _one_grant_measure(hub)
    (resident,) = await _signed_in(hub, 1)
    async with second_api(hub, api_database_wait_s=0.5) as (app, http), AsyncExitStack() as held:
        with contextlib.suppress(NoFreeConnection):
            while True:
                await held.enter_async_context(app.state.lane_engine.connect())
        started = time.monotonic()
        granted = await as_resident(http, resident).apply(measure_id)
        assert granted.status_code == 201, granted.text
        assert time.monotonic() - started < 5
        request_id = granted.headers["x-request-id"]
        async with hub.ctx.sessions() as session:
            outcomes = (
                await session.execute(
                    select(AuditEntry.outcome).where(
                        AuditEntry.request_id == request_id, AuditEntry.action.like("POST /v1/%")
                    )
                )
            ).scalars()
            assert list(outcomes) == ["201"]  # the request's own entry, beside the grant's
