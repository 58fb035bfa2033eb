"""Audit entries of concurrent requests are committed together, each request waiting for its own."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.audit_writer import AuditWriter
from storage.database import SessionFactory
from storage.models.audit import AuditEntry


def _entry(index: int) -> dict[str, Any]:
    return {
        "actor": f"resident:K{index:019d}",
        "action": "POST /v1/me/receipts",
        "object_type": "receipt",
        "object_id": f"rcpt-{index}",
        "outcome": "202",
        "request_id": f"req-{index}",
    }


async def _count(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return int(
            (await session.execute(select(func.count()).select_from(AuditEntry))).scalar_one()
        )


async def test_concurrent_entries_share_transactions_and_all_land(
    audit_engine: AsyncEngine, audit_sessions: SessionFactory
) -> None:
    commits = 0

    def counted(*_: Any) -> None:
        nonlocal commits
        commits += 1

    event.listen(audit_engine.sync_engine, "commit", counted)
    writer = AuditWriter(audit_sessions)
    await asyncio.gather(*(writer.write(**_entry(i)) for i in range(200)))
    await writer.close()

    assert await _count(audit_sessions) == 200
    assert 1 <= commits < 20, commits
    async with audit_sessions() as session:
        ids = (
            await session.execute(select(AuditEntry.request_id).order_by(AuditEntry.id))
        ).scalars()
        assert list(ids) == [f"req-{i}" for i in range(200)]  # in the order they were handed in


async def test_a_bad_entry_fails_alone(audit_sessions: SessionFactory) -> None:
    writer = AuditWriter(audit_sessions)
    bad = {**_entry(1), "at": "not a time"}
    results = await asyncio.gather(
        writer.write(**_entry(0)),
        writer.write(**bad),
        writer.write(**_entry(2)),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Exception)
    assert await _count(audit_sessions) == 2
