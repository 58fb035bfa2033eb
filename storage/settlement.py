"""The figures of a municipality's month, read set-based from the ledger, the statements and the
breaks; and the frozen figures of closed months.

A receipt belongs to the month of the business day its credit was recorded on (its ledger line
into `credited`). The credited points of a month are the ledger's net movement into and out of
`credited` for those receipts; up to a moment (`as_of`) when a closed month is verified, so a
reversal recorded after closing is not counted there but as an adjustment of the next open month.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.business_days import month_business_days, month_days, month_window, next_month
from domain.reconciliation import BreakKind, BreakStatus, Resolution
from domain.settlement import Line
from storage.models import LedgerEntry, Measure, PaymentProvider, Receipt
from storage.models.settlement import (
    ReconciliationBreak,
    SettlementAdjustment,
    SettlementLine,
    SettlementMonth,
    SettlementReport,
    Statement,
    StatementLine,
)

Key = tuple[str, str]  # (provider_id, measure_id)
CREDITED = "credited"
AGREED = (Resolution.PROVIDER_CONFIRMED_CREDIT.value, Resolution.ACCEPTED_DIFFERENCE.value)


async def closed_months(session: AsyncSession) -> set[str]:
    return {m for (m,) in await session.execute(select(SettlementMonth.month))}


def next_open(month: str, closed: set[str]) -> str:
    """The first month after `month` that is not closed: where its corrections are shown."""
    candidate = next_month(month)
    while candidate in closed:
        candidate = next_month(candidate)
    return candidate


async def credited_points(
    session: AsyncSession, code: str, month: str, *, as_of: datetime | None = None
) -> dict[Key, int]:
    lo, hi = month_window(month)
    credit = aliased(LedgerEntry)
    line = LedgerEntry
    signed = case((line.to_state == CREDITED, line.points), else_=-line.points)
    query = (
        select(Receipt.provider_id, line.measure_id, func.sum(signed))
        .join(Receipt, Receipt.id == line.receipt_id)
        .where(
            Receipt.municipality_code == code,
            (line.to_state == CREDITED) | (line.from_state == CREDITED),
            exists().where(
                credit.receipt_id == Receipt.id,
                credit.to_state == CREDITED,
                credit.at >= lo,
                credit.at < hi,
            ),
        )
        .group_by(Receipt.provider_id, line.measure_id)
    )
    if as_of is not None:
        query = query.where(line.at <= as_of)
    return {(p, m): int(n or 0) for p, m, n in await session.execute(query)}


async def statement_points(session: AsyncSession, code: str, month: str) -> dict[Key, int]:
    first, last = month_days(month)
    query = (
        select(Receipt.provider_id, Receipt.measure_id, func.sum(StatementLine.points))
        .join(Statement, Statement.id == StatementLine.statement_id)
        .join(Receipt, Receipt.id == StatementLine.receipt_id)
        .where(
            Statement.status == "current",
            Statement.business_date >= first,
            Statement.business_date <= last,
            Receipt.municipality_code == code,
        )
        .group_by(Receipt.provider_id, Receipt.measure_id)
    )
    return {(p, m): int(n or 0) for p, m, n in await session.execute(query)}


async def matched_points(session: AsyncSession, code: str, month: str) -> dict[Key, int]:
    """Credits of the month the provider agrees with: on a statement with the same points, or
    whose break was resolved by the provider's confirmation or an accepted difference."""
    lo, hi = month_window(month)
    listed = exists().where(
        StatementLine.receipt_id == Receipt.id,
        StatementLine.points == Receipt.points,
        exists().where(Statement.id == StatementLine.statement_id, Statement.status == "current"),
    )
    agreed = exists().where(
        ReconciliationBreak.receipt_id == Receipt.id,
        ReconciliationBreak.resolution.in_(AGREED),
    )
    query = (
        select(Receipt.provider_id, Receipt.measure_id, func.sum(Receipt.points))
        .where(
            Receipt.municipality_code == code,
            Receipt.state == CREDITED,
            Receipt.finished_at >= lo,
            Receipt.finished_at < hi,
            listed | agreed,
        )
        .group_by(Receipt.provider_id, Receipt.measure_id)
    )
    return {(p, m): int(n or 0) for p, m, n in await session.execute(query)}


async def open_breaks(session: AsyncSession, code: str, month: str) -> dict[Key, int]:
    first, last = month_days(month)
    query = (
        select(ReconciliationBreak.provider_id, ReconciliationBreak.measure_id, func.count())
        .where(
            ReconciliationBreak.status == BreakStatus.OPEN.value,
            ReconciliationBreak.municipality_code == code,
            ReconciliationBreak.business_date >= first,
            ReconciliationBreak.business_date <= last,
        )
        .group_by(ReconciliationBreak.provider_id, ReconciliationBreak.measure_id)
    )
    return {(p, m): int(n) for p, m, n in await session.execute(query) if m is not None}


async def missing_statements(session: AsyncSession, month: str, providers: Iterable[str]) -> int:
    """Open `statement_missing` breaks of the month for these providers (a whole day each)."""
    first, last = month_business_days(month)
    return int(
        await session.scalar(
            select(func.count()).where(
                ReconciliationBreak.kind == BreakKind.STATEMENT_MISSING.value,
                ReconciliationBreak.status == BreakStatus.OPEN.value,
                ReconciliationBreak.provider_id.in_(list(providers)),
                ReconciliationBreak.business_date >= first,
                ReconciliationBreak.business_date <= last,
            )
        )
        or 0
    )


async def open_breaks_in(session: AsyncSession, month: str) -> int:
    """Every open break of the month, of every provider: what closing waits for."""
    first, last = month_days(month)
    return int(
        await session.scalar(
            select(func.count()).where(
                ReconciliationBreak.status == BreakStatus.OPEN.value,
                ReconciliationBreak.business_date >= first,
                ReconciliationBreak.business_date <= last,
            )
        )
        or 0
    )


async def pending_adjustments(
    session: AsyncSession, code: str, month: str, closed: set[str]
) -> tuple[dict[Key, int], list[str]]:
    """Corrections of closed months not yet settled, that this month is the next open one for:
    (points by key, their IDs)."""
    rows = await session.execute(
        select(SettlementAdjustment).where(
            SettlementAdjustment.municipality_code == code,
            SettlementAdjustment.applied_month.is_(None),
            SettlementAdjustment.relates_to_month < month,
        )
    )
    points: dict[Key, int] = defaultdict(int)
    ids = []
    for row in rows.scalars():
        if next_open(row.relates_to_month, closed) == month:
            points[(row.provider_id, row.measure_id)] += row.points
            ids.append(row.id)
    return dict(points), ids


async def names(
    session: AsyncSession, keys: Iterable[Key]
) -> tuple[dict[str, str], dict[str, tuple[str, int]]]:
    """Provider names; measure titles with their yen per point."""
    keys = list(keys)
    providers = {
        p: n
        for p, n in await session.execute(
            select(PaymentProvider.id, PaymentProvider.name).where(
                PaymentProvider.id.in_({k[0] for k in keys})
            )
        )
    }
    measures = {
        m: (t, y)
        for m, t, y in await session.execute(
            select(Measure.id, Measure.title, Measure.yen_per_point).where(
                Measure.id.in_({k[1] for k in keys})
            )
        )
    }
    return providers, measures


async def open_lines(
    session: AsyncSession, code: str, month: str, closed: set[str]
) -> tuple[list[Line], int, list[str]]:
    """The month's lines as they stand now, the open whole-day breaks, and the adjustments in
    them."""
    credited = await credited_points(session, code, month)
    listed = await statement_points(session, code, month)
    matched = await matched_points(session, code, month)
    breaks = await open_breaks(session, code, month)
    adjustments, adjustment_ids = await pending_adjustments(session, code, month, closed)
    keys = set(credited) | set(listed) | set(matched) | set(breaks) | set(adjustments)
    providers, measures = await names(session, keys)
    lines = [
        Line(
            provider_id=p,
            provider_name=providers.get(p, p),
            measure_id=m,
            measure_title=measures.get(m, (m, 1))[0],
            credited_points=credited.get((p, m), 0),
            statement_points=listed.get((p, m), 0),
            matched_points=matched.get((p, m), 0),
            open_breaks=breaks.get((p, m), 0),
            yen_per_point=measures.get(m, (m, 1))[1],
            adjustment=adjustments.get((p, m), 0),
        )
        for p, m in sorted(keys)
    ]
    day_breaks = await missing_statements(session, month, {p for p, _ in keys})
    return lines, day_breaks, adjustment_ids


async def frozen_lines(session: AsyncSession, code: str, month: str) -> list[Line]:
    rows = await session.execute(
        select(SettlementLine).where(
            SettlementLine.month == month, SettlementLine.municipality_code == code
        )
    )
    return [
        Line(
            provider_id=r.provider_id,
            provider_name=r.provider_name,
            measure_id=r.measure_id,
            measure_title=r.measure_title,
            credited_points=r.credited_points,
            statement_points=r.statement_points,
            matched_points=r.matched_points,
            open_breaks=r.open_breaks,
            yen_per_point=r.yen_per_point,
            adjustment=r.adjustment,
        )
        for r in rows.scalars()
    ]


def freeze(session: AsyncSession, month: str, code: str, lines: Iterable[Line]) -> None:
    session.add_all(
        SettlementLine(
            month=month,
            municipality_code=code,
            provider_id=x.provider_id,
            measure_id=x.measure_id,
            provider_name=x.provider_name[:200],
            measure_title=x.measure_title[:200],
            credited_points=x.credited_points,
            statement_points=x.statement_points,
            matched_points=x.matched_points,
            open_breaks=x.open_breaks,
            yen_per_point=x.yen_per_point,
            adjustment=x.adjustment,
            amount_yen=x.amount_yen,
        )
        for x in lines
    )


async def report(session: AsyncSession, month: str, code: str) -> SettlementReport | None:
    return await session.get(SettlementReport, (month, code))


async def applied_adjustments(session: AsyncSession, code: str, month: str) -> dict[Key, int]:
    rows = await session.execute(
        select(
            SettlementAdjustment.provider_id,
            SettlementAdjustment.measure_id,
            func.sum(SettlementAdjustment.points),
        )
        .where(
            and_(
                SettlementAdjustment.municipality_code == code,
                SettlementAdjustment.applied_month == month,
            )
        )
        .group_by(SettlementAdjustment.provider_id, SettlementAdjustment.measure_id)
    )
    return {(p, m): int(n or 0) for p, m, n in rows}
