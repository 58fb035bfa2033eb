"""The opening rush's limit (docs/benchmarks.md): every grant of a measure waits on its row, so a
decision locks that row with its last statement, the conditional budget `UPDATE`, and commits
next; all it writes before (the application, the grant, its ledger line, its audit entry) takes
no lock another applicant waits on. What the unlocked reads checked, that update checks again:
a close that commits while it waits refuses the application."""

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


async def test_the_measure_row_is_locked_by_the_last_statement_before_the_commit(
    staff: Staff,
) -> None:
    hub = staff.hub
    measure_id = await staff.published(budget_points=2000)
    mykey_id, headers = await resident_session(hub)
    token = headers["authorization"].removeprefix("Bearer ")
    with statements_by_connection(hub.ctx.engine) as sent:
        decision = await apply(
            hub.ctx, measure_id=measure_id, token=token, fixed_registration_id=None
        )
    assert decision.status == "granted"
    deciding = [s for s in sent.values() if any(locks_the_measure(x) for x in s)]
    assert len(deciding) == 1, sent
    statements = deciding[0]
    first_lock = next(i for i, s in enumerate(statements) if locks_the_measure(s))
    assert statements[first_lock + 1 :] == ["COMMIT"], statements
    # …and everything the decision writes came before it, in the same transaction.
    written = " ".join(statements[:first_lock])
    for table in ("applications", "grants", "ledger_entries", "audit_entries"):
        assert f"INSERT INTO {table}" in written, (table, statements)
    async with hub.ctx.sessions() as session:
        measure = await session.get(Measure, measure_id)
        assert measure is not None and measure.budget_used == 1000
        grants = await session.scalar(
            select(func.count()).select_from(Grant).where(Grant.measure_id == measure_id)
        )
        assert grants == 1
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
async def test_a_close_committed_while_the_budget_waits_refuses_the_application(
    staff: Staff,
) -> None:
    """The checks read the measure unlocked; the budget's update finds it closed once the close
    that held the row commits, and the decision is refused with nothing written."""
    hub = staff.hub
    assert hub.ctx.engine.dialect.name == "postgresql"
    measure_id = await staff.published(budget_points=2000)
    _, headers = await resident_session(hub)
    token = headers["authorization"].removeprefix("Bearer ")
    async with hub.ctx.sessions.begin() as closing:
        await closing.execute(
            update(Measure).where(Measure.id == measure_id).values(state=MeasureState.CLOSED.value)
        )
        deciding = asyncio.create_task(
            apply(hub.ctx, measure_id=measure_id, token=token, fixed_registration_id=None)
        )
        await asyncio.sleep(1.0)  # past its checks, waiting on the row
        assert not deciding.done()
    with pytest.raises(RuleViolation) as refused:
        await asyncio.wait_for(deciding, 10)
    assert refused.value.code == "outside_application_window"
    async with hub.ctx.sessions() as session:
        measure = await session.get(Measure, measure_id)
        assert measure is not None and measure.budget_used == 0
        applications = await session.scalar(
            select(func.count())
            .select_from(Application)
            .where(Application.measure_id == measure_id)
        )
        assert applications == 0
