"""The batch queue of `batch_file` providers: receipts wait here until a cut-off puts them in a
request file; result files are remembered by checksum so each is ingested once.

Every step is set-based: a batch of ten thousand requests is one UPDATE to claim them and one
SELECT to read them, whatever the backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.providers.batch_files import Manifest, RequestRow
from domain.identifiers import random_hex
from domain.receipts import ReceiptState
from storage import audit
from storage.models import Receipt
from storage.models.providers import BatchResultFile, CreditBatch, CreditBatchItem
from storage.provider_inbox import insert_new

OPEN_STATES = (ReceiptState.CREDITING.value, ReceiptState.ACCEPTED.value)


def new_batch_id(now: datetime) -> str:
    """Sortable by time, unique by its random tail."""
    return random_hex(4, around=f"{now:%Y%m%dT%H%M%S}-{{}}")


async def enqueue(
    session: AsyncSession, *, receipt_id: str, provider_id: str, now: datetime
) -> bool:
    """Queue a receipt for its provider's next file, audited; a receipt is queued once, ever."""
    audit.record(
        session,
        actor=f"provider-worker:{provider_id}",
        action="enqueue_credit",
        object_type="receipt",
        object_id=receipt_id,
        outcome="queued",
        at=now,
    )
    inserted = await insert_new(
        session,
        CreditBatchItem,
        [
            {
                "receipt_id": receipt_id,
                "provider_id": provider_id,
                "batch_id": None,
                "enqueued_at": now,
            }
        ],
        "receipt_id",
    )
    return bool(inserted)


async def is_queued(session: AsyncSession, receipt_id: str) -> bool:
    """Whether the receipt was ever put on a batch queue (it stays there until its batch)."""
    row = await session.execute(
        select(CreditBatchItem.receipt_id).where(CreditBatchItem.receipt_id == receipt_id)
    )
    return row.first() is not None


@dataclass(frozen=True)
class QueueStats:
    pending: int
    oldest: datetime | None


async def queue_stats(session: AsyncSession, provider_id: str) -> QueueStats:
    row = (
        await session.execute(
            select(func.count(), func.min(CreditBatchItem.enqueued_at)).where(
                CreditBatchItem.provider_id == provider_id, CreditBatchItem.batch_id.is_(None)
            )
        )
    ).one()
    oldest = row[1]
    if isinstance(oldest, str):  # SQLite hands an aggregate of timestamps back as text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return QueueStats(pending=int(row[0]), oldest=oldest)


async def drop_settled(session: AsyncSession, provider_id: str) -> int:
    """Queued receipts that became final before their file was written (returned, say) must not
    be sent: they leave the queue."""
    settled = select(Receipt.id).where(
        Receipt.id == CreditBatchItem.receipt_id, Receipt.state.not_in(OPEN_STATES)
    )
    result = await session.execute(
        delete(CreditBatchItem).where(
            CreditBatchItem.provider_id == provider_id,
            CreditBatchItem.batch_id.is_(None),
            settled.exists(),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def assign_batch(
    session: AsyncSession, *, provider_id: str, size: int, now: datetime
) -> CreditBatch | None:
    """Claim up to `size` of the oldest waiting requests for a new batch."""
    batch = CreditBatch(
        id=new_batch_id(now),
        provider_id=provider_id,
        status="assigned",
        file_name=None,
        record_count=0,
        total_points=0,
        sha256=None,
        created_at=now,
        written_at=None,
    )
    session.add(batch)
    await session.flush()
    oldest = (
        select(CreditBatchItem.receipt_id)
        .where(CreditBatchItem.provider_id == provider_id, CreditBatchItem.batch_id.is_(None))
        .order_by(CreditBatchItem.enqueued_at, CreditBatchItem.receipt_id)
        .limit(size)
    )
    result = await session.execute(
        update(CreditBatchItem)
        .where(CreditBatchItem.receipt_id.in_(oldest.scalar_subquery()))
        .values(batch_id=batch.id)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        await session.delete(batch)
        return None
    return batch


async def unwritten_batches(session: AsyncSession, provider_id: str) -> list[CreditBatch]:
    """Batches claimed but whose file was not confirmed written (a crash in between)."""
    rows = await session.execute(
        select(CreditBatch)
        .where(CreditBatch.provider_id == provider_id, CreditBatch.status == "assigned")
        .order_by(CreditBatch.created_at, CreditBatch.id)
    )
    return list(rows.scalars())


async def batch_rows(session: AsyncSession, provider_id: str, batch_id: str) -> list[RequestRow]:
    """The request rows of one batch, in a stable order: writing it again gives the same file."""
    rows = await session.execute(
        select(
            Receipt.id,
            Receipt.account_id,
            Receipt.points,
            Receipt.measure_id,
            Receipt.municipality_code,
        )
        .join(CreditBatchItem, CreditBatchItem.receipt_id == Receipt.id)
        .where(CreditBatchItem.provider_id == provider_id, CreditBatchItem.batch_id == batch_id)
        .order_by(Receipt.id)
    )
    return [RequestRow(*row) for row in rows.all()]


async def mark_written(
    session: AsyncSession, batch_id: str, manifest: Manifest, now: datetime
) -> None:
    await session.execute(
        update(CreditBatch)
        .where(CreditBatch.id == batch_id)
        .values(
            status="written",
            file_name=manifest.file_name,
            record_count=manifest.record_count,
            total_points=manifest.total_points,
            sha256=manifest.sha256,
            written_at=now,
        )
    )


async def result_files_seen(
    session: AsyncSession, provider_id: str, checksums: Sequence[str]
) -> set[str]:
    """The checksums among these of result files already received from the provider."""
    if not checksums:
        return set()
    rows = await session.execute(
        select(BatchResultFile.sha256).where(
            BatchResultFile.provider_id == provider_id,
            BatchResultFile.sha256.in_(sorted(set(checksums))),
        )
    )
    return set(rows.scalars())


async def record_result_files(session: AsyncSession, rows: Sequence[BatchResultFile]) -> None:
    """Remember result files by their checksums (one already known stays as it was)."""
    columns = BatchResultFile.__table__.columns
    values = [{c.name: getattr(row, c.name) for c in columns} for row in rows]
    await insert_new(session, BatchResultFile, values, "id")


async def recent_files(
    session: AsyncSession, provider_id: str, limit: int
) -> tuple[list[CreditBatch], list[BatchResultFile]]:
    """The provider's latest request files and result files, newest first."""
    batches = await session.execute(
        select(CreditBatch)
        .where(CreditBatch.provider_id == provider_id)
        .order_by(CreditBatch.created_at.desc(), CreditBatch.id.desc())
        .limit(limit)
    )
    results = await session.execute(
        select(BatchResultFile)
        .where(BatchResultFile.provider_id == provider_id)
        .order_by(BatchResultFile.received_at.desc(), BatchResultFile.id.desc())
        .limit(limit)
    )
    return list(batches.scalars()), list(results.scalars())
