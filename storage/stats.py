"""Per-measure figures for municipality staff, each one grouped query over indexed columns."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Application, Grant, Receipt


@dataclass
class StateFigures:
    count: int = 0
    points: int = 0


@dataclass
class MeasureFigures:
    applications: dict[str, int] = field(default_factory=dict)
    grants: dict[str, StateFigures] = field(default_factory=dict)
    receipts: dict[str, dict[str, StateFigures]] = field(default_factory=dict)  # provider→state


async def measure_figures(session: AsyncSession, measure_id: str) -> MeasureFigures:
    figures = MeasureFigures()
    # Grants first, then applications (written in the same transaction): without a snapshot
    # (SQLite, READ COMMITTED) the applications shown are never behind the grants shown.
    grant_rows = await session.execute(
        select(Grant.state, func.count(), func.coalesce(func.sum(Grant.points), 0))
        .where(Grant.measure_id == measure_id)
        .group_by(Grant.state)
    )
    figures.grants = {state: StateFigures(int(n), int(p)) for state, n, p in grant_rows.all()}
    rows = await session.execute(
        select(Application.state, func.count())
        .where(Application.measure_id == measure_id)
        .group_by(Application.state)
    )
    figures.applications = {state: int(n) for state, n in rows.all()}
    # Receipts are reached through the measure's grants (indexed), not a scan of all receipts.
    receipt_rows = await session.execute(
        select(
            Receipt.provider_id,
            Receipt.state,
            func.count(),
            func.coalesce(func.sum(Receipt.points), 0),
        )
        .join(Grant, Grant.id == Receipt.grant_id)
        .where(Grant.measure_id == measure_id)
        .group_by(Receipt.provider_id, Receipt.state)
    )
    for provider_id, state, n, p in receipt_rows.all():
        figures.receipts.setdefault(provider_id, {})[state] = StateFigures(int(n), int(p))
    return figures


@dataclass(frozen=True)
class GrantLine:
    grant_id: str
    application_id: str
    mykey_id: str
    event_id: str | None
    points: int
    state: str
    created_at: datetime
    updated_at: datetime
    receipt_id: str | None
    payment_service_id: str | None
    provider_id: str | None


async def grant_lines(
    session: AsyncSession, measure_id: str, *, chunk: int = 2000
) -> AsyncIterator[GrantLine]:
    """Every grant of a measure with its current receipt, streamed in chunks (a measure may
    hold 100,000 grants; the export must not hold them all in memory)."""
    query = (
        select(
            Grant.id,
            Grant.application_id,
            Grant.mykey_id,
            Grant.event_id,
            Grant.points,
            Grant.state,
            Grant.created_at,
            Grant.updated_at,
            Receipt.id,
            Receipt.payment_service_id,
            Receipt.provider_id,
        )
        .outerjoin(Receipt, Receipt.id == Grant.current_receipt_id)
        .where(Grant.measure_id == measure_id)
        .order_by(Grant.created_at, Grant.id)
        .execution_options(yield_per=chunk)
    )
    result = await session.stream(query)
    async for row in result:
        yield GrantLine(*row)
