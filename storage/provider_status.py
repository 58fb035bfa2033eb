"""Each provider's queue state: the run of configuration failures, paused or active, and why.

Every write is one conditional statement, so the credit activities of many receipts recording
failures and successes at once, and an operator resuming meanwhile, never lose an update: the
counter is incremented in the database, and a provider moves to `paused` (or back) only from the
other state, the first writer winning.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models.provider_status import ProviderStatus
from storage.models.receipts import Receipt
from storage.receipts import OPEN_RECEIPT_STATES

ACTIVE = "active"
PAUSED = "paused"
DETAIL_LIMIT = 2000


async def get(session: AsyncSession, provider_id: str) -> ProviderStatus | None:
    return (
        await session.execute(
            select(ProviderStatus)
            .where(ProviderStatus.provider_id == provider_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def is_paused(session: AsyncSession, provider_id: str) -> bool:
    status = (
        await session.execute(
            select(ProviderStatus.status).where(ProviderStatus.provider_id == provider_id)
        )
    ).scalar_one_or_none()
    return status == PAUSED


async def _ensure(session: AsyncSession, provider_id: str, now: datetime) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    await session.execute(
        dialect.insert(ProviderStatus)
        .values(provider_id=provider_id, status=ACTIVE, consecutive_failures=0, updated_at=now)
        .on_conflict_do_nothing()
    )


async def note_failure(
    session: AsyncSession,
    provider_id: str,
    *,
    code: str,
    detail: str,
    counts: bool,
    now: datetime,
) -> int:
    """Record a failure; `counts` (a configuration failure) adds one to the run of them.
    Returns the run's length afterwards."""
    await _ensure(session, provider_id, now)
    values: dict[str, object] = {
        "last_failure_code": code,
        "last_failure_detail": detail[:DETAIL_LIMIT],
        "last_failure_at": now,
        "updated_at": now,
    }
    if counts:
        values["consecutive_failures"] = ProviderStatus.consecutive_failures + 1
    run = await session.execute(
        update(ProviderStatus)
        .where(ProviderStatus.provider_id == provider_id)
        .values(**values)
        .returning(ProviderStatus.consecutive_failures)
    )
    return int(run.scalar_one())


async def note_success(session: AsyncSession, provider_id: str, *, now: datetime) -> None:
    """A provider that answered ends the run of configuration failures (not a pause)."""
    await session.execute(
        update(ProviderStatus)
        .where(ProviderStatus.provider_id == provider_id, ProviderStatus.consecutive_failures > 0)
        .values(consecutive_failures=0, updated_at=now)
    )


async def pause(
    session: AsyncSession,
    provider_id: str,
    *,
    reason: str,
    detail: str | None,
    actor: str,
    now: datetime,
) -> bool:
    """Pause an active provider; False when it was paused already (the first cause is kept)."""
    await _ensure(session, provider_id, now)
    result = await session.execute(
        update(ProviderStatus)
        .where(ProviderStatus.provider_id == provider_id, ProviderStatus.status == ACTIVE)
        .values(
            status=PAUSED,
            paused_reason=reason,
            paused_detail=None if detail is None else detail[:DETAIL_LIMIT],
            paused_at=now,
            paused_by=actor,
            updated_at=now,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def resume(
    session: AsyncSession, provider_id: str, *, actor: str, note: str | None, now: datetime
) -> bool:
    """Resume a paused provider with a fresh run of failures; False when it was not paused."""
    result = await session.execute(
        update(ProviderStatus)
        .where(ProviderStatus.provider_id == provider_id, ProviderStatus.status == PAUSED)
        .values(
            status=ACTIVE,
            consecutive_failures=0,
            resumed_at=now,
            resumed_by=actor,
            resume_note=note,
            updated_at=now,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def paused(session: AsyncSession) -> Sequence[ProviderStatus]:
    rows = await session.execute(
        select(ProviderStatus)
        .where(ProviderStatus.status == PAUSED)
        .order_by(ProviderStatus.paused_at, ProviderStatus.provider_id)
    )
    return list(rows.scalars())


async def open_receipts(session: AsyncSession, provider_id: str) -> int:
    """How many receipts of this provider are open (waiting while it is paused)."""
    count = await session.execute(
        select(func.count())
        .select_from(Receipt)
        .where(
            Receipt.provider_id == provider_id,
            Receipt.state.in_([s.value for s in OPEN_RECEIPT_STATES]),
        )
    )
    return int(count.scalar_one())
