"""Sealing the audit log into an HMAC chain, and verifying it.

Entries arrive unsealed from many concurrent transactions. One sealer at a time (a PostgreSQL
advisory lock; on SQLite the database's single write lock, taken by the sealer's first
statement, plus a lock in this process) gives the committed, unsealed entries the next chain
indexes in insertion order and computes each hash over the previous one:

    hash_n = HMAC-SHA256(key, hash_(n-1) + "\\n" + canonical JSON of (n, entry))

and moves the chain head (last index, last hash). Verification recomputes the chain from the
first index and reports the first index that does not hold: a changed row (its hash no longer
matches), a deleted one (an index is missing), two swapped (the hash at the lower index
differs) or a cut tail (the chain is shorter than its head).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import SessionFactory
from storage.models.audit import AuditChainHead, AuditEntry

GENESIS = "0" * 64
HEAD_ID = 1
ADVISORY_LOCK = 0x6D70_6861_7564  # "mphaud": one sealer across every process
_process_lock = asyncio.Lock()


def entry_hash(key: bytes, previous: str, seq: int, entry: AuditEntry) -> str:
    """The chain hash of `entry` at index `seq` after `previous`; every content field counts."""
    body = json.dumps(
        [
            seq,
            entry.id,
            entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
            entry.actor,
            entry.action,
            entry.object_type,
            entry.object_id,
            entry.outcome,
            entry.request_id,
            entry.detail,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hmac.new(key, f"{previous}\n{body}".encode(), hashlib.sha256).hexdigest()


async def _take_sealer_lock(session: AsyncSession, now: datetime) -> AuditChainHead:
    """Serialise sealers and return the chain head, creating it on the first seal."""
    dialect = session.get_bind().dialect.name
    values = {"id": HEAD_ID, "last_seq": 0, "last_hash": GENESIS, "sealed_at": now}
    if dialect == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK})
        await session.execute(
            postgresql.insert(AuditChainHead).values(values).on_conflict_do_nothing()
        )
    else:  # a write first: SQLite's write lock is held from here until commit
        await session.execute(sqlite.insert(AuditChainHead).values(values).prefix_with("OR IGNORE"))
    head = await session.get(AuditChainHead, HEAD_ID, populate_existing=True)
    assert head is not None
    return head


# One statement for a batch on PostgreSQL: the arrays joined by ID, where an UPDATE per entry
# (SQLAlchemy's bulk update by primary key, which SQLite keeps) cost the sealer as much CPU as
# the recording of a result file's rows it sealed (docs/benchmarks.md).
_SEAL_MANY = text(
    "UPDATE audit_entries SET seq = v.seq, hash = v.hash, sealed_at = :at"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:seqs AS bigint[]), CAST(:hashes AS text[]))"
    " AS v(id, seq, hash) WHERE audit_entries.id = v.id"
)


async def _write_seals(
    session: AsyncSession, changes: list[dict[str, object]], at: datetime
) -> None:
    if session.get_bind().dialect.name != "postgresql":
        await session.execute(update(AuditEntry), changes)
        return
    await session.execute(
        _SEAL_MANY,
        {
            "at": at,
            "ids": [c["id"] for c in changes],
            "seqs": [c["seq"] for c in changes],
            "hashes": [c["hash"] for c in changes],
        },
    )


@dataclass(frozen=True)
class SealReport:
    sealed: int
    last_seq: int
    last_hash: str


async def seal(
    sessions: SessionFactory, key: bytes, *, batch: int = 1000, now: datetime | None = None
) -> SealReport:
    """Seal every entry committed so far, `batch` at a time; returns the new head."""
    sealed = 0
    async with sessions() as session:  # nothing to do: no lock, no write
        if (
            await session.scalar(select(AuditEntry.id).where(AuditEntry.seq.is_(None)).limit(1))
            is None
        ):
            head = await session.get(AuditChainHead, HEAD_ID)
            return (
                SealReport(0, head.last_seq, head.last_hash) if head else SealReport(0, 0, GENESIS)
            )
    async with _process_lock:
        while True:
            async with sessions.begin() as session:
                at = now or datetime.now(UTC)
                head = await _take_sealer_lock(session, at)
                entries = list(
                    await session.scalars(
                        select(AuditEntry)
                        .where(AuditEntry.seq.is_(None))
                        .order_by(AuditEntry.id)
                        .limit(batch)
                    )
                )
                seq, previous = head.last_seq, head.last_hash
                changes = []
                for entry in entries:
                    seq += 1
                    previous = entry_hash(key, previous, seq, entry)
                    changes.append({"id": entry.id, "seq": seq, "hash": previous, "sealed_at": at})
                if changes:
                    await _write_seals(session, changes, at)
                    head.last_seq, head.last_hash, head.sealed_at = seq, previous, at
                report = SealReport(sealed + len(entries), head.last_seq, head.last_hash)
            sealed = report.sealed
            if len(entries) < batch:
                return report


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    checked: int  # sealed entries whose hash was recomputed
    head_seq: int  # what the chain head says
    first_broken: int | None  # the first chain index that does not hold
    problem: str | None
    unsealed: int


async def verify(session: AsyncSession, key: bytes, *, page: int = 5000) -> VerifyReport:
    """Walk the sealed chain from index 1; stop at the first index that does not hold.

    The head is read first and sealers may run meanwhile: entries sealed after that read extend
    the chain and are checked like the rest; the chain must reach the head and pass its hash.
    """
    head = await session.get(AuditChainHead, HEAD_ID)
    head_seq = head.last_seq if head is not None else 0
    unsealed = int(
        await session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.seq.is_(None))) or 0
    )

    def broken(index: int, problem: str, checked: int) -> VerifyReport:
        return VerifyReport(False, checked, head_seq, index, problem, unsealed)

    expected, previous, hash_at_head = 1, GENESIS, GENESIS
    while True:
        entries = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.seq >= expected)
                .order_by(AuditEntry.seq)
                .limit(page)
            )
        )
        for entry in entries:
            if entry.seq != expected:
                return broken(expected, "entry missing", expected - 1)
            if entry.hash is None or not hmac.compare_digest(
                entry.hash, entry_hash(key, previous, expected, entry)
            ):
                return broken(expected, "hash does not match", expected - 1)
            previous = entry.hash
            if expected == head_seq:
                hash_at_head = previous
            expected += 1
        if len(entries) < page:
            break
    last = expected - 1
    if head is None:
        if last:
            return broken(1, "chain head missing", last)
        return VerifyReport(True, 0, 0, None, None, unsealed)
    if last < head_seq:
        return broken(last + 1, "entries missing at the end of the chain", last)
    if head_seq and not hmac.compare_digest(hash_at_head, head.last_hash):
        return broken(head_seq, "chain head hash does not match", last)
    return VerifyReport(True, last, head_seq, None, None, unsealed)
