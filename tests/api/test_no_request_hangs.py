"""No request hangs (issue 17): with no worker polling the hub's task queue, a call that waits on
a workflow answers within `HUB_WORKFLOW_WAIT_S` with 503 `temporal_unavailable` and Retry-After;
an application that needs no review is decided in the request, and a receipt request is claimed
in the request and signalled, so neither needs a worker at all; and past
`HUB_API_MAX_IN_FLIGHT` requests at once the API sheds load with 503 `overloaded`."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from sqlalchemy.exc import TimeoutError as NoFreeConnection

from adapters.providers.registry import AdapterRegistry
from api.app import create_app
from api.shedding import MAX_RETRY_AFTER_S
from hub.workers import HubWorkers, WorkerOptions
from simulators.resident_app import ResidentApp
from tests.identity.stack_support import enrolled, grant_of, wait_for_grant
from tests.support.scenario import add_provider, ensure_municipality, municipality_key
from tests.support.scenario import publish_measure as published
from tests.support.servers import serve
from tests.support.stack import Hub, workers_running

WAIT_S = 1.5


@asynccontextmanager
async def api_without_workers(
    hub: Hub, queue: str | None = None, **overrides: object
) -> AsyncIterator[httpx.AsyncClient]:
    """A second API on the hub's database whose task queue no worker polls."""
    settings = hub.settings.model_copy(
        update={
            "task_queue": queue or f"nobody-{secrets.token_hex(4)}",
            "workflow_wait_s": WAIT_S,
            "workflow_keep_trying_s": 2.0,  # the calls given up go on this long, then stop
            **overrides,
        }
    )
    async with (
        serve(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield http


def as_resident(http: httpx.AsyncClient, resident: ResidentApp) -> ResidentApp:
    other = ResidentApp(http, resident.card)
    other.token, other.mykey_id = resident.token, resident.mykey_id
    return other


async def test_workers_down_requests_answer_within_the_deadline(hub: Hub) -> None:
    await ensure_municipality(hub)
    _, service_id = await add_provider(hub)
    key = await municipality_key(hub)
    plain = await published(hub, key, [service_id])
    reviewed = await published(hub, key, [service_id], review_required=True)
    held = await published(hub, key, [service_id])
    resident = hub.resident()
    registration_id = await enrolled(hub, resident, service_id, "nohang-0001")
    grant_id = await grant_of(resident, held)

    async with api_without_workers(hub) as http:
        down = as_resident(http, resident)
        # Decided in the request: no worker needed.
        started = time.monotonic()
        granted = await down.apply(plain)
        assert granted.status_code == 201, granted.text
        assert granted.json()["status"] == "granted"
        assert time.monotonic() - started < WAIT_S

        # Needs the workflow (review): 503 once the deadline passes, not a hung request.
        started = time.monotonic()
        refused = await down.apply(reviewed)
        waited = time.monotonic() - started
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "temporal_unavailable"
        assert int(refused.headers["retry-after"]) >= 1
        assert WAIT_S <= waited < WAIT_S + 5

        # Claimed in the request, handed to the workflow by signal-with-start: taken at once,
        # no worker needed to answer (one carries it once it polls: the test below).
        started = time.monotonic()
        receipt = await down.request_receipt([grant_id], registration_id)
        assert receipt.status_code == 202, receipt.text
        assert [r["state"] for r in receipt.json()["receipts"]] == ["requested"]
        assert time.monotonic() - started < WAIT_S


async def test_past_the_in_flight_limit_requests_are_shed(hub: Hub) -> None:
    await ensure_municipality(hub)
    _, service_id = await add_provider(hub)
    key = await municipality_key(hub)
    reviewed = await published(hub, key, [service_id], review_required=True)
    resident = hub.resident()
    assert (await resident.login()).status_code == 201

    async with api_without_workers(hub, api_max_in_flight=1) as http:
        down = as_resident(http, resident)
        waiting = asyncio.create_task(down.apply(reviewed))  # holds the one slot ≤ WAIT_S
        await asyncio.sleep(0.5)
        started = time.monotonic()
        shed = await down.get("/v1/me")
        assert time.monotonic() - started < 1
        assert shed.status_code == 503, shed.text
        assert shed.json()["code"] == "overloaded"
        assert 1 <= int(shed.headers["retry-after"]) <= MAX_RETRY_AFTER_S
        assert (await http.get("/healthz")).status_code == 200  # probes are never shed
        assert (await waiting).status_code == 503
        served = await down.get("/v1/me")  # the slot is free again
        assert served.status_code == 200, served.text


async def test_a_receipt_taken_while_no_worker_polls_is_credited_once_one_does(hub: Hub) -> None:
    """A receipt request needs no worker to be taken: its claim is committed and its workflow
    signalled (and started) by the server; a worker that comes later credits it, and asking
    again is refused."""
    await ensure_municipality(hub)
    _, service_id = await add_provider(hub)
    key = await municipality_key(hub)
    measure_id = await published(hub, key, [service_id])
    resident = hub.resident()
    registration_id = await enrolled(hub, resident, service_id, "nohang-0002")
    grant_id = await grant_of(resident, measure_id)
    queue = f"late-{secrets.token_hex(4)}"
    async with api_without_workers(hub, queue, workflow_keep_trying_s=120.0) as http:
        down = as_resident(http, resident)
        receipt = await down.request_receipt([grant_id], registration_id)
        assert receipt.status_code == 202, receipt.text
        workers = HubWorkers(
            hub.client,
            hub.ctx.sessions,
            AdapterRegistry(),
            WorkerOptions(task_queue=queue, provider_refresh_s=0.2),
            queues=[queue],
        )
        async with workers_running(workers):
            await wait_for_grant(resident, grant_id, {"credited"}, seconds=60)
        again = await resident.request_receipt([grant_id], registration_id)
        assert (again.status_code, again.json()["code"]) == (409, "grant_not_unreceived")


async def test_a_request_finding_no_free_database_connection_is_shed(hub: Hub) -> None:
    """Requests in flight can outnumber the database connections many times over: one that finds
    none free within `HUB_API_DATABASE_WAIT_S` answers 503 `overloaded` with Retry-After instead of
    waiting on the pool until its client gives up (the opening rush's hung requests)."""
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    settings = hub.settings.model_copy(update={"api_database_wait_s": 0.5})
    app = create_app(settings)
    async with (
        serve(app) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        AsyncExitStack() as held,
    ):
        other = as_resident(http, resident)
        assert (await other.get("/v1/me")).status_code == 200
        engine = app.state.hub.engine
        with contextlib.suppress(NoFreeConnection):  # every connection of the API's pool taken
            while True:
                await held.enter_async_context(engine.connect())
        started = time.monotonic()
        shed = await other.get("/v1/me")
        assert time.monotonic() - started < 3
        assert shed.status_code == 503, shed.text
        assert shed.json()["code"] == "overloaded"
        assert 1 <= int(shed.headers["retry-after"]) <= MAX_RETRY_AFTER_S
        await held.aclose()  # the connections back: served again
        assert (await other.get("/v1/me")).status_code == 200
