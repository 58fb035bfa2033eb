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


async def test_an_entry_is_stored_as_storage_audit_record_stores_it(
    audit_sessions: SessionFactory,
) -> None:
    """The writer's Core INSERT keeps every rule of `storage.audit.record`: My Numbers redacted,
    secrets and account IDs in the detail hidden, limits applied, nothing sealed."""
    from datetime import UTC, datetime

    from storage import audit

    at = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    entry: dict[str, Any] = {
        **_entry(7),
        "object_id": "my number 1234 5678 9018 " + "x" * 300,
        "at": at,
        "detail": {"path": "/v1/me", "account_id": "acct-0001234", "security_code": "9876"},
    }
    writer = AuditWriter(audit_sessions)
    await writer.write(**{**entry, "request_id": "by-writer"})
    await writer.close()
    async with audit_sessions.begin() as session:
        audit.record(session, **{**entry, "request_id": "by-record"})

    columns = [c for c in AuditEntry.__table__.columns if c.key not in ("id", "request_id")]
    async with audit_sessions() as session:
        rows = (
            await session.execute(
                select(AuditEntry.request_id, *columns).order_by(AuditEntry.request_id)
            )
        ).all()
    by_record, by_writer = (tuple(row[1:]) for row in rows)
    assert [row.request_id for row in rows] == ["by-record", "by-writer"]
    assert by_writer == by_record
    written = rows[1]
    assert "1234 5678 9018" not in written.object_id and len(written.object_id) == 200
    assert "acct-0001234" not in (written.detail or "") and "9876" not in (written.detail or "")
    assert written.sealed_at is None and written.hash is None and written.seq is None
