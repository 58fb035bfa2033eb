"""The audit chain: sealed under concurrent appends, and every kind of tampering found at the
first index it breaks (a changed, deleted or swapped row, a cut tail)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import audit
from storage.audit_chain import VerifyReport, seal, verify
from storage.database import SessionFactory
from storage.models.audit import AuditChainHead, AuditEntry
from tests.audit.conftest import KEY, disable_guards


async def append(sessions: SessionFactory, count: int, *, actor: str = "workflow") -> None:
    for n in range(count):
        async with sessions.begin() as session:
            audit.record(
                session,
                actor=actor,
                action="claim_receipts",
                object_type="receipt",
                object_id=f"g{n}-r1",
                outcome="ok",
                detail={"n": n},
            )


async def sealed_chain(sessions: SessionFactory, count: int = 12) -> None:
    await append(sessions, count)
    report = await seal(sessions, KEY, batch=5)
    assert report.sealed == count and report.last_seq == count


async def check(sessions: SessionFactory) -> VerifyReport:
    async with sessions() as session:
        return await verify(session, KEY, page=4)


async def test_concurrent_appends_seal_into_one_valid_chain(audit_sessions: SessionFactory):
    writers = [append(audit_sessions, 15, actor=f"support:key_{w}") for w in range(8)]
    sealers = [seal(audit_sessions, KEY, batch=7) for _ in range(6)]
    await asyncio.gather(*writers, *sealers)
    await seal(audit_sessions, KEY, batch=7)
    report = await check(audit_sessions)
    assert report.ok, report
    assert (report.checked, report.head_seq, report.unsealed) == (120, 120, 0)
    async with audit_sessions() as session:
        seqs = list(await session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
    assert seqs == list(range(1, 121))


async def test_a_rolled_back_change_leaves_no_entry(audit_sessions: SessionFactory):
    with pytest.raises(RuntimeError):
        async with audit_sessions.begin() as session:
            audit.record(session, actor="workflow", action="x", object_type="t", object_id="1")
            raise RuntimeError("the business change failed")
    async with audit_sessions() as session:
        assert await session.scalar(select(func.count(AuditEntry.id))) == 0


async def test_an_empty_log_verifies(audit_sessions: SessionFactory):
    report = await check(audit_sessions)
    assert report.ok and report.checked == 0


async def test_new_entries_extend_a_verified_chain(audit_sessions: SessionFactory):
    await sealed_chain(audit_sessions, 5)
    await append(audit_sessions, 3)
    unsealed = await check(audit_sessions)
    assert unsealed.ok and unsealed.unsealed == 3
    await seal(audit_sessions, KEY)
    report = await check(audit_sessions)
    assert report.ok and report.checked == 8 and report.unsealed == 0


async def test_a_changed_row_breaks_at_its_index(
    audit_sessions: SessionFactory, audit_engine: AsyncEngine
):
    await sealed_chain(audit_sessions)
    await disable_guards(audit_engine)
    async with audit_sessions.begin() as session:
        await session.execute(
            update(AuditEntry).where(AuditEntry.seq == 7).values(outcome="refused")
        )
    report = await check(audit_sessions)
    assert not report.ok
    assert (report.first_broken, report.problem) == (7, "hash does not match")


async def test_a_deleted_row_breaks_at_its_index(
    audit_sessions: SessionFactory, audit_engine: AsyncEngine
):
    await sealed_chain(audit_sessions)
    await disable_guards(audit_engine)
    async with audit_sessions.begin() as session:
        await session.execute(delete(AuditEntry).where(AuditEntry.seq == 4))
    report = await check(audit_sessions)
    assert (report.ok, report.first_broken, report.problem) == (False, 4, "entry missing")


async def test_a_deleted_and_renumbered_row_breaks_at_its_index(
    audit_sessions: SessionFactory, audit_engine: AsyncEngine
):
    await sealed_chain(audit_sessions)
    await disable_guards(audit_engine)
    async with audit_sessions.begin() as session:
        await session.execute(delete(AuditEntry).where(AuditEntry.seq == 4))
        for seq in range(5, 13):
            await session.execute(
                update(AuditEntry).where(AuditEntry.seq == seq).values(seq=seq - 1)
            )
        await session.execute(update(AuditChainHead).values(last_seq=11))
    report = await check(audit_sessions)
    assert (report.ok, report.first_broken) == (False, 4)


async def test_swapped_rows_break_at_the_lower_index(
    audit_sessions: SessionFactory, audit_engine: AsyncEngine
):
    await sealed_chain(audit_sessions)
    await disable_guards(audit_engine)
    async with audit_sessions.begin() as session:  # whole rows trade places, hashes and all
        await session.execute(update(AuditEntry).where(AuditEntry.seq == 5).values(seq=-5))
        await session.execute(update(AuditEntry).where(AuditEntry.seq == 9).values(seq=5))
        await session.execute(update(AuditEntry).where(AuditEntry.seq == -5).values(seq=9))
    report = await check(audit_sessions)
    assert (report.ok, report.first_broken, report.problem) == (False, 5, "hash does not match")


async def test_a_cut_tail_is_found_by_the_head(
    audit_sessions: SessionFactory, audit_engine: AsyncEngine
):
    await sealed_chain(audit_sessions)
    await disable_guards(audit_engine)
    async with audit_sessions.begin() as session:
        await session.execute(delete(AuditEntry).where(AuditEntry.seq > 9))
    report = await check(audit_sessions)
    assert (report.ok, report.first_broken) == (False, 10)
    assert report.problem == "entries missing at the end of the chain"


async def test_a_rewritten_head_is_found(audit_sessions: SessionFactory, audit_engine: AsyncEngine):
    await sealed_chain(audit_sessions)
    await disable_guards(audit_engine)
    async with audit_sessions.begin() as session:
        await session.execute(update(AuditChainHead).values(last_hash="f" * 64))
    report = await check(audit_sessions)
    assert (report.ok, report.first_broken) == (False, 12)


async def test_a_different_key_does_not_verify(audit_sessions: SessionFactory):
    await sealed_chain(audit_sessions, 3)
    async with audit_sessions() as session:
        report = await verify(session, b"another key")
    assert (report.ok, report.first_broken) == (False, 1)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET outcome = 'rewritten' WHERE seq = 2",
        "UPDATE audit_entries SET seq = 99 WHERE seq = 2",
        "DELETE FROM audit_entries WHERE seq = 2",
        "DELETE FROM audit_entries",
        "UPDATE audit_chain_head SET last_seq = 1",
        "DELETE FROM audit_chain_head",
    ],
)
async def test_the_database_refuses_to_rewrite_the_log(
    audit_sessions: SessionFactory, audit_engine: AsyncEngine, statement: str
):
    """The tests connect as PostgreSQL's superuser: the triggers refuse it all the same."""
    await sealed_chain(audit_sessions, 3)
    with pytest.raises(DBAPIError):
        async with audit_engine.begin() as connection:
            await connection.execute(text(statement))
    assert (await check(audit_sessions)).ok


async def test_an_unsealed_entry_cannot_be_rewritten_or_removed(
    audit_sessions: SessionFactory, audit_engine: AsyncEngine
):
    await append(audit_sessions, 1)
    for statement in (
        "UPDATE audit_entries SET actor = 'someone else'",
        "DELETE FROM audit_entries",
    ):
        with pytest.raises(DBAPIError):
            async with audit_engine.begin() as connection:
                await connection.execute(text(statement))
    await seal(audit_sessions, KEY)
    assert (await check(audit_sessions)).ok


async def test_truncate_is_refused_on_postgresql(
    audit_sessions: SessionFactory, audit_engine: AsyncEngine
):
    if audit_engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    await sealed_chain(audit_sessions, 2)
    with pytest.raises(DBAPIError):
        async with audit_engine.begin() as connection:
            await connection.execute(text("TRUNCATE audit_entries"))
    with pytest.raises(DBAPIError):
        async with audit_engine.begin() as connection:
            await connection.execute(text("TRUNCATE audit_chain_head"))
