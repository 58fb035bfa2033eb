"""The opening rush's limit (docs/benchmarks.md): every grant of a measure waits on its row, so a
decision takes the budget as its transaction's last step. On PostgreSQL the decision writes a
budget claim last and the claim's deferred trigger takes the points inside the commit: no
statement the API sends locks the measure. On SQLite the conditional budget `UPDATE` is the last
statement and the commit follows. All it writes before (the application, the grant, its ledger
line, its audit entry) takes no lock another applicant waits on. What the unlocked reads
checked, the budget's step checks again: a close that commits while it waits refuses the
application."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import RuleViolation
from domain.measures import MeasureState
from services.applications import apply
from storage.models import Application, Grant, Measure
from storage.models.audit import AuditEntry
from storage.models.budget import BudgetClaim
from tests.municipal.conftest import Staff, resident_session
from tests.support.databases import postgres_server_url


@contextmanager
def statements_by_connection(engine: AsyncEngine) -> Iterator[dict[int, list[str]]]:
    """Every statement each connection of `engine` sends while the block runs, and its commits."""
    sent: dict[int, list[str]] = defaultdict(list)

    def executed(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent[id(conn)].append(" ".join(statement.split()))

    def committed(conn: Any) -> None:
        sent[id(conn)].append("COMMIT")

    event.listen(engine.sync_engine, "before_cursor_execute", executed)
    event.listen(engine.sync_engine, "commit", committed)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", executed)
        event.remove(engine.sync_engine, "commit", committed)


def locks_the_measure(statement: str) -> bool:
    return statement.startswith("UPDATE measures") or (
        "FROM measures" in statement and "FOR UPDATE" in statement
    )


def takes_the_budget(statement: str) -> bool:
    return statement.startswith(("UPDATE measures", "INSERT INTO budget_claims"))


async def test_the_budget_is_the_last_step_before_the_commit(staff: Staff) -> None:
    hub = staff.hub
    measure_id = await staff.published(budget_points=2000)
    mykey_id, headers = await resident_session(hub)
    token = headers["authorization"].removeprefix("Bearer ")
    with statements_by_connection(hub.ctx.engine) as sent:
        decision = await apply(
            hub.ctx, measure_id=measure_id, token=token, fixed_registration_id=None
        )
    assert decision.status == "granted"
    deciding = [s for s in sent.values() if any("INSERT INTO applications" in x for x in s)]
    assert len(deciding) == 1, sent
    statements = deciding[0]
    budget_step = [i for i, s in enumerate(statements) if takes_the_budget(s)]
    assert len(budget_step) == 1, statements
    assert statements[budget_step[0] + 1 :] == ["COMMIT"], statements
    if hub.ctx.engine.dialect.name == "postgresql":
        # The trigger takes the budget inside the commit: nothing sent locks the measure.
        assert statements[budget_step[0]].startswith("INSERT INTO budget_claims"), statements
        assert not [s for s in statements if locks_the_measure(s)], statements
    # …and everything the decision writes came before it, in the same transaction.
    written = " ".join(statements[: budget_step[0]])
    for table in ("applications", "grants", "ledger_entries", "audit_entries"):
        assert f"INSERT INTO {table}" in written, (table, statements)
    async with hub.ctx.sessions() as session:
        measure = await session.get(Measure, measure_id)
        assert measure is not None and measure.budget_used == 1000
        grants = await session.scalar(
            select(func.count()).select_from(Grant).where(Grant.measure_id == measure_id)
        )
        assert grants == 1
        claims = await session.scalar(select(func.count()).select_from(BudgetClaim))
        assert claims == 0  # the trigger took the points and its claim
        entries = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action == "decide_application",
                AuditEntry.actor == f"resident:{mykey_id}",
            )
        )
        assert entries == 1


@pytest.mark.skipif(
    postgres_server_url() is None,  # SQLite has no row locks to hold
    reason="HUB_TEST_DATABASE_URL is not set",
)
@pytest.mark.parametrize(
    ("meanwhile", "refusal"),
    [
        ({"state": MeasureState.CLOSED.value}, "outside_application_window"),
        ({"budget_used": 2000}, "budget_exhausted"),
    ],
)
async def test_what_commits_while_the_budget_waits_refuses_the_application(
    staff: Staff, meanwhile: dict[str, Any], refusal: str
) -> None:
    """The checks read the measure unlocked; the budget's step finds it closed, or its budget
    taken, once the transaction that held the row commits (on PostgreSQL the claim's trigger,
    inside the decision's commit), and the decision is refused with nothing written."""
    hub = staff.hub
    assert hub.ctx.engine.dialect.name == "postgresql"
    measure_id = await staff.published(budget_points=2000)
    mykey_id, headers = await resident_session(hub)
    token = headers["authorization"].removeprefix("Bearer ")
    async with hub.ctx.sessions.begin() as holding:
        await holding.execute(update(Measure).where(Measure.id == measure_id).values(**meanwhile))
        deciding = asyncio.create_task(
            apply(hub.ctx, measure_id=measure_id, token=token, fixed_registration_id=None)
        )
        await asyncio.sleep(1.0)  # past its checks, waiting on the row
        assert not deciding.done()
    with pytest.raises(RuleViolation) as refused:
        await asyncio.wait_for(deciding, 10)
    assert refused.value.code == refusal
    async with hub.ctx.sessions() as session:
        measure = await session.get(Measure, measure_id)
        assert measure is not None
        assert measure.budget_used == meanwhile.get("budget_used", 0)
        for table in (Application, Grant):
            rows = await session.scalar(
                select(func.count()).select_from(table).where(table.measure_id == measure_id)
            )
            assert rows == 0, table
        assert await session.scalar(select(func.count()).select_from(BudgetClaim)) == 0
        entries = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action == "decide_application",
                AuditEntry.actor == f"resident:{mykey_id}",
            )
        )
        assert entries == 0
