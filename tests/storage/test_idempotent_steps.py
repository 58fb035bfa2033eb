"""Database steps run again after a crash between their commit and the workflow seeing the
result: they must return the same result and write nothing twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from domain.applications import ApplicationDecision
from domain.errors import RuleViolation
from services.applications import application_ids
from services.context import HubContext
from storage import applications, receipts
from storage.models import LedgerEntry, PaymentServiceRegistration, Receipt
from tests.support.databases import database_context
from tests.support.direct import new_resident, seed_catalog


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[HubContext]:
    async with database_context(tmp_path) as context:
        yield context


async def count(ctx: HubContext, model: type) -> int:
    async with ctx.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def decide(
    ctx: HubContext,
    measure_id: str,
    mykey_id: str,
    workflow_id: str | None = None,
    *,
    actor: str = "workflow",
    rerun: bool = True,
) -> ApplicationDecision:
    """The resident's application decided in a transaction of its own (its workflow ID the one
    derived from the business key unless given)."""
    application_id, derived = application_ids(ctx, measure_id, mykey_id)
    async with ctx.sessions.begin() as session:
        return await applications.apply(
            session,
            measure_id=measure_id,
            mykey_id=mykey_id,
            application_id=application_id,
            workflow_id=workflow_id or derived,
            fixed_registration_id=None,
            now=datetime.now(UTC),
            actor=actor,
            rerun=rerun,
        )


async def test_deciding_an_application_twice_returns_the_first_decision(ctx: HubContext) -> None:
    catalog = await seed_catalog(ctx)
    mykey_id = await new_resident(ctx)
    decisions = [await decide(ctx, catalog.measure_id, mykey_id) for _ in range(2)]
    assert decisions[0].grants == decisions[1].grants
    assert await count(ctx, LedgerEntry) == 1
    with pytest.raises(RuleViolation) as other:  # another workflow is refused as before
        await decide(ctx, catalog.measure_id, mykey_id, "someone-else")
    assert other.value.code == "already_applied"


async def test_a_twin_decided_in_the_request_meanwhile_is_already_applied(
    ctx: HubContext,
) -> None:
    """The API decides an application without re-reading, under the measure's lock, whether the
    resident applied meanwhile: a twin committed since its first read is refused by the unique
    key as 409 `already_applied`, with nothing written (not an IntegrityError: a 500)."""
    catalog = await seed_catalog(ctx)
    mykey_id = await new_resident(ctx)
    outcomes = []
    for _ in range(2):
        try:
            decided = await decide(
                ctx, catalog.measure_id, mykey_id, actor=f"resident:{mykey_id}", rerun=False
            )
            outcomes.append(decided.status)
        except RuleViolation as refused:
            outcomes.append(refused.code)
    assert outcomes == ["granted", "already_applied"]
    assert await count(ctx, LedgerEntry) == 1


async def test_claiming_receipts_twice_returns_the_same_receipts(ctx: HubContext) -> None:
    catalog = await seed_catalog(ctx)
    mykey_id = await new_resident(ctx)
    application_id, workflow_id = application_ids(ctx, catalog.measure_id, mykey_id)
    now = datetime.now(UTC)
    async with ctx.sessions.begin() as session:
        decision = await applications.apply(
            session,
            measure_id=catalog.measure_id,
            mykey_id=mykey_id,
            application_id=application_id,
            workflow_id=workflow_id,
            fixed_registration_id=None,
            now=now,
            actor="workflow",
        )
        session.add(
            PaymentServiceRegistration(
                id="reg_1",
                mykey_id=mykey_id,
                payment_service_id=catalog.payment_service_id,
                account_id="acct-1",
                status="active",
                created_at=now,
                invalidated_at=None,
            )
        )
    grant_ids = [g.grant_id for g in decision.grants]
    claims = []
    for _ in range(2):
        async with ctx.sessions.begin() as session:
            claims.append(
                await receipts.request_receipts(
                    session,
                    mykey_id=mykey_id,
                    grant_ids=grant_ids,
                    registration_id="reg_1",
                    workflow_id=workflow_id,
                    now=now,
                    actor="resident",
                )
            )
    assert [p.receipt_id for p in claims[0]] == [p.receipt_id for p in claims[1]]
    assert await count(ctx, Receipt) == 1
    assert await count(ctx, LedgerEntry) == 2  # granted, then receipt requested: once
    with pytest.raises(RuleViolation) as refused:  # any other claim is still refused
        async with ctx.sessions.begin() as session:
            await receipts.request_receipts(
                session,
                mykey_id=mykey_id,
                grant_ids=grant_ids,
                registration_id="reg_1",
                workflow_id="another-workflow",
                now=now,
                actor="resident",
            )
    assert refused.value.code == "grant_not_unreceived"
