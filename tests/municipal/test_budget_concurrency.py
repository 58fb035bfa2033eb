"""First come, first served under load, on PostgreSQL: 220 residents apply at once for a budget
of 100 grants; exactly 100 are granted and the points granted equal the budget."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.types import ApplicationDecision
from adapters.providers.registry import AdapterRegistry
from domain.points import ledger_adds_up
from hub.workers import HubWorkers, WorkerOptions
from services.applications import application_ids
from services.workflow_errors import violation_from
from simulators.jpki import TestCA
from storage.ledger import ledger_moves
from storage.models import Application, Grant, Measure
from tests.municipal.conftest import Staff, resident_session
from tests.support.databases import fresh_database, postgres_server_url
from tests.support.scenario import add_provider, ensure_municipality, municipality_key
from tests.support.stack import Hub, running_hub, workers_running
from workflows import revisions
from workflows.application import ApplicationWorkflow
from workflows.messages import ApplicationInput, ApplyRequest

pytestmark = pytest.mark.skipif(
    postgres_server_url() is None, reason="HUB_TEST_DATABASE_URL is not set"
)

APPLICANTS = 220
BUDGET_GRANTS = 100


def outcome(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    return response.status_code, body["status"] if response.status_code == 201 else body["code"]


@pytest.fixture(scope="module")
async def pg_hub(
    temporal_env: WorkflowEnvironment, session_tmp: Path, test_ca: TestCA
) -> AsyncIterator[Hub]:
    with fresh_database(session_tmp, backend="postgresql") as url:
        async with running_hub(
            database_url=url, client=temporal_env.client, tmp_dir=session_tmp, ca=test_ca
        ) as running:
            yield running


@pytest.fixture
async def pg_staff(pg_hub: Hub) -> Staff:
    await ensure_municipality(pg_hub)
    provider_id, service_id = await add_provider(pg_hub)
    return Staff(pg_hub, await municipality_key(pg_hub), provider_id, service_id)


async def test_concurrent_applications_never_exceed_the_budget(pg_staff: Staff) -> None:
    hub = pg_staff.hub
    assert hub.ctx.engine.dialect.name == "postgresql"
    measure_id = await pg_staff.published(budget_points=BUDGET_GRANTS * 1000)
    residents = [await resident_session(hub) for _ in range(APPLICANTS)]
    limits = httpx.Limits(max_connections=APPLICANTS, max_keepalive_connections=APPLICANTS)
    async with httpx.AsyncClient(base_url=hub.api_url, timeout=120, limits=limits) as http:
        start = asyncio.Event()

        async def apply(headers: dict[str, str]) -> httpx.Response:
            await start.wait()
            return await http.post(f"/v1/measures/{measure_id}/applications", headers=headers)

        tasks = [asyncio.create_task(apply(headers)) for _, headers in residents]
        start.set()
        responses = await asyncio.gather(*tasks)

    outcomes = Counter(outcome(r) for r in responses)
    assert outcomes == {
        (201, "granted"): BUDGET_GRANTS,
        (409, "budget_exhausted"): APPLICANTS - BUDGET_GRANTS,
    }
    async with hub.ctx.sessions() as session:
        measure = await session.get(Measure, measure_id)
        assert measure is not None and measure.budget_used == BUDGET_GRANTS * 1000
        granted = await session.execute(
            select(func.count(), func.sum(Grant.points)).where(Grant.measure_id == measure_id)
        )
        assert tuple(granted.one()) == (BUDGET_GRANTS, BUDGET_GRANTS * 1000)
        applications = await session.execute(
            select(func.count()).where(Application.measure_id == measure_id)
        )
        assert applications.scalar_one() == BUDGET_GRANTS
        assert ledger_adds_up(await ledger_moves(session, measure_id=measure_id))
    stats = (await pg_staff.get(f"/measures/{measure_id}/stats")).json()
    assert stats["budget"]["budget_left"] == 0
    assert stats["points"]["granted"] == BUDGET_GRANTS * 1000


async def test_one_resident_applying_many_times_at_once_gets_one_grant(pg_staff: Staff) -> None:
    hub = pg_staff.hub
    measure_id = await pg_staff.published(per_person_cap=1000)
    mykey_id, headers = await resident_session(hub)
    responses = await asyncio.gather(
        *(
            hub.http.post(f"/v1/measures/{measure_id}/applications", headers=headers)
            for _ in range(10)
        )
    )
    outcomes = Counter(outcome(r) for r in responses)
    assert outcomes == {(201, "granted"): 1, (409, "already_applied"): 9}
    async with hub.ctx.sessions() as session:
        points = await session.execute(
            select(func.sum(Grant.points)).where(
                Grant.measure_id == measure_id, Grant.mykey_id == mykey_id
            )
        )
        assert points.scalar_one() == 1000


async def test_applies_delivered_together_decide_once(pg_staff: Staff) -> None:
    """Two `apply` updates that reach the workflow in one activation are both validated before
    either runs; the second is refused in its handler and the application is decided once."""
    hub = pg_staff.hub
    measure_id = await pg_staff.published(per_person_cap=1000)
    mykey_id, _ = await resident_session(hub)
    application_id, workflow_id = application_ids(hub.ctx, measure_id, mykey_id)
    held = f"{hub.settings.task_queue}-held"  # no worker yet: the updates wait together
    handle = await hub.client.start_workflow(
        ApplicationWorkflow.run,
        ApplicationInput(
            measure_id=measure_id,
            mykey_id=mykey_id,
            application_id=application_id,
            revision=revisions.CURRENT,
        ),
        id=workflow_id,
        task_queue=held,
    )
    applies = [
        asyncio.create_task(handle.execute_update(ApplicationWorkflow.apply, ApplyRequest()))
        for _ in range(2)
    ]
    await asyncio.sleep(2)
    assert not any(task.done() for task in applies)
    registry = AdapterRegistry()
    workers = HubWorkers(
        hub.client,
        hub.ctx.sessions,
        registry,
        WorkerOptions(task_queue=held, sandboxed=True),
        queues=[held],  # the hub's own worker already serves the provider queues
    )
    try:
        async with workers_running(workers):
            answers = await asyncio.gather(*applies, return_exceptions=True)
    finally:
        await registry.aclose()
    decisions = [a for a in answers if isinstance(a, ApplicationDecision)]
    refused = [a for a in answers if isinstance(a, WorkflowUpdateFailedError)]
    assert len(decisions) == 1 and decisions[0].status == "granted", answers
    assert len(refused) == 1, answers
    violation = violation_from(refused[0])
    assert violation is not None and violation.code == "already_applied"
    async with hub.ctx.sessions() as session:
        grants = await session.execute(
            select(func.count(), func.sum(Grant.points)).where(
                Grant.measure_id == measure_id, Grant.mykey_id == mykey_id
            )
        )
        assert tuple(grants.one()) == (1, 1000)
