"""Driving one application through its receipt in the time-skipping environment."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.types import ApplicationDecision
from adapters.providers.registry import AdapterRegistry
from domain.reviews import ReviewPolicy
from hub.settings import DEFAULT_CACHED_WORKFLOWS
from hub.workers import HubWorkers, WorkerOptions
from services.applications import application_ids
from services.context import HubContext
from storage.models import PaymentServiceRegistration
from tests.support.direct import new_resident, seed_catalog
from tests.support.fake_provider import FakeProvider
from tests.support.stack import workers_running
from workflows import revisions
from workflows.application import ApplicationWorkflow
from workflows.messages import ApplicationInput, ApplyRequest, ReceiptRequest


@dataclass
class Running:
    handle: WorkflowHandle[ApplicationWorkflow, Any]
    receipt_id: str
    grant_id: str
    mykey_id: str = ""


@contextlib.asynccontextmanager
async def hub_workers(
    env: WorkflowEnvironment,
    ctx: HubContext,
    fake: FakeProvider,
    review_policy: ReviewPolicy | None = None,
    queue: str | None = None,
    sticky: bool = True,
) -> AsyncIterator[str]:
    """The real hub worker composition, with the fake behind the `hub_rest` adapter name, on
    `queue` (a new one when not given: workers stopped and started again share one). Workers
    that will be stopped while their workflows go on are not `sticky`: a workflow task left on a
    stopped worker's sticky queue would wait there, in skipped time, for ever."""
    registry = AdapterRegistry({"hub_rest": fake.factory()})
    queue = queue or f"hub-{secrets.token_hex(3)}"
    workers = HubWorkers(
        env.client,
        ctx.sessions,
        registry,
        WorkerOptions(
            task_queue=queue,
            provider_refresh_s=0.1,
            review_policy=review_policy or ReviewPolicy(),
            max_cached_workflows=DEFAULT_CACHED_WORKFLOWS if sticky else 0,
        ),
    )
    async with workers_running(workers):
        yield queue


async def refused(update: Awaitable[Any], says: str, otherwise: str) -> None:
    """The update is refused with a message that says `says`; `otherwise` if it went through."""
    try:
        await update
    except WorkflowUpdateFailedError as refusal:
        assert says in str(refusal.cause), refusal.cause
    else:
        raise AssertionError(otherwise)


async def start_applied(
    env: WorkflowEnvironment,
    ctx: HubContext,
    queue: str,
    measure_id: str,
    mykey_id: str,
    history_limit: int = 5000,
) -> tuple[WorkflowHandle[ApplicationWorkflow, Any], ApplicationDecision]:
    """The application workflow, started, then applied to."""
    application_id, workflow_id = application_ids(ctx, measure_id, mykey_id)
    handle = await env.client.start_workflow(
        ApplicationWorkflow.run,
        ApplicationInput(
            measure_id,
            mykey_id,
            application_id,
            history_limit=history_limit,
            revision=revisions.CURRENT,
        ),
        id=workflow_id,
        task_queue=queue,
    )
    return handle, await handle.execute_update(ApplicationWorkflow.apply, ApplyRequest())


async def start_review(
    env: WorkflowEnvironment, ctx: HubContext, queue: str, measure_id: str
) -> tuple[WorkflowHandle[ApplicationWorkflow, Any], ApplicationDecision]:
    """A new resident applies to a measure that needs review: the handle and the decision."""
    handle, decision = await start_applied(env, ctx, queue, measure_id, await new_resident(ctx))
    assert decision.status == "pending_review" and decision.grants == []
    assert decision.review is not None
    return handle, decision


async def provider_catalog(ctx: HubContext, **config: Any) -> tuple[str, str, str]:
    """(measure_id, payment_service_id, provider_id) with the given provider configuration."""
    catalog = await seed_catalog(ctx)
    from storage.models import PaymentProvider

    async with ctx.sessions.begin() as session:
        provider = await session.get(PaymentProvider, catalog.provider_id)
        assert provider is not None
        provider.config = {**provider.config, **config}
    return catalog.measure_id, catalog.payment_service_id, catalog.provider_id


async def registered_resident(ctx: HubContext, service_id: str) -> tuple[str, str]:
    """A new resident with an active registration at the payment service: (MyKey ID, its ID)."""
    mykey_id = await new_resident(ctx)
    registration_id = f"reg_{secrets.token_hex(6)}"
    async with ctx.sessions.begin() as session:
        session.add(
            PaymentServiceRegistration(
                id=registration_id,
                mykey_id=mykey_id,
                payment_service_id=service_id,
                account_id=f"acct-{secrets.token_hex(4)}",
                status="active",
                created_at=datetime.now(UTC),
                invalidated_at=None,
            )
        )
    return mykey_id, registration_id


async def start_with_receipt(
    env: WorkflowEnvironment,
    ctx: HubContext,
    queue: str,
    measure_id: str,
    service_id: str,
    history_limit: int = 5000,
) -> Running:
    mykey_id, registration_id = await registered_resident(ctx, service_id)
    handle, decision = await start_applied(env, ctx, queue, measure_id, mykey_id, history_limit)
    [grant] = decision.grants
    ticket = await handle.execute_update(
        ApplicationWorkflow.request_receipt,
        ReceiptRequest(grant_ids=[grant.grant_id], registration_id=registration_id),
    )
    [plan] = ticket.receipts
    return Running(handle, plan.receipt_id, grant.grant_id, mykey_id)
