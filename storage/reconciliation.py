"""Matching one provider's business day against the ledger, set-based, and the breaks it finds.

A day is reconciled by two statements whatever its size: one writes every break the statement's
lines show (missing at the hub, points mismatch), one every break the hub's credits show (missing
at the provider). Both are `INSERT … SELECT … ON CONFLICT`: a break already known is only marked
as seen again by this run, so reconciling a day twice opens nothing twice and a resolved break
stays resolved. Open breaks of the day that this run did not see no longer hold and are cleared.

The hub's credits of a day are its receipts `credited` with `finished_at` in the day's window
(`domain.business_days.day_window`); a receipt credited on the neighbouring business day matches
too (a credit near midnight), so the window for matches spans the previous to the next business
day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    and_,
    case,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from domain.business_days import day_window, next_business_day, previous_business_day
from domain.receipts import ReceiptState
from domain.reconciliation import BreakKind, BreakStatus, Resolution
from storage.models import Receipt
from storage.models.settlement import ReconciliationBreak, StatementLine
from storage.statements import current, current_ids

Break = ReconciliationBreak
CREDITED = ReceiptState.CREDITED.value
_COLUMNS = (
    "provider_id",
    "business_date",
    "kind",
    "key",
    "receipt_id",
    "municipality_code",
    "measure_id",
    "hub_state",
    "hub_points",
    "provider_points",
    "provider_reference",
    "provider_credited_at",
    "status",
    "opened_at",
    "opened_run",
    "seen_run",
)
_REFRESHED = ("hub_state", "hub_points", "provider_points", "provider_reference", "seen_run")


@dataclass(frozen=True)
class DayResult:
    provider_id: str
    business_date: date
    statement_id: str | None
    records: int
    matched: int
    open_breaks: int
    new_breaks: int
    new_by_kind: dict[str, int]


def _upsert(session: AsyncSession, query: Any) -> Any:
    """`INSERT INTO reconciliation_breaks … SELECT …`, a known break only marked seen again
    (and, while open, its sides refreshed)."""
    bind = session.get_bind()
    dialect = postgresql if bind.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Break).from_select(list(_COLUMNS), query)
    return statement.on_conflict_do_update(
        index_elements=["provider_id", "business_date", "key"],
        set_={name: statement.excluded[name] for name in _REFRESHED},
        where=Break.status == BreakStatus.OPEN.value,
    )


def _constants(provider_id: str, day: date, run: str, now: datetime) -> dict[str, Any]:
    return {
        "provider_id": literal(provider_id),
        "business_date": literal(day),
        "status": literal(BreakStatus.OPEN.value),
        "opened_at": literal(now, Break.opened_at.type),
        "opened_run": literal(run),
        "seen_run": literal(run),
    }


async def reconcile_day(
    session: AsyncSession,
    provider_id: str,
    day: date,
    *,
    run: str,
    now: datetime,
    statement_due: datetime,
) -> DayResult:
    """Reconcile one provider's business day; `statement_due` is when a missing statement
    becomes a `statement_missing` break."""
    statement = await current(session, provider_id, day)
    fixed = _constants(provider_id, day, run, now)
    if statement is not None:
        neighbours = await current_ids(
            session, provider_id, [previous_business_day(day), next_business_day(day)]
        )
        await session.execute(_upsert(session, _line_breaks(statement.id, provider_id, day, fixed)))
        await session.execute(
            _upsert(
                session,
                _hub_breaks(provider_id, day, [statement.id, *neighbours], fixed),
            )
        )
    elif now >= statement_due:
        await session.execute(_upsert(session, _missing_statement(provider_id, day, fixed)))
    await session.execute(
        update(Break)
        .where(
            Break.provider_id == provider_id,
            Break.business_date == day,
            Break.status == BreakStatus.OPEN.value,
            Break.seen_run != run,
        )
        .values(
            status=BreakStatus.RESOLVED.value,
            resolution=Resolution.CLEARED.value,
            resolved_by="reconciliation",
            resolved_at=now,
            note="no longer a break when the day was reconciled again",
        )
    )
    counted = (
        await session.execute(
            select(Break.kind, Break.status, Break.opened_run, Break.seen_run, func.count())
            .where(Break.provider_id == provider_id, Break.business_date == day)
            .group_by(Break.kind, Break.status, Break.opened_run, Break.seen_run)
        )
    ).all()
    line_kinds = {BreakKind.MISSING_AT_HUB.value, BreakKind.POINTS_MISMATCH.value}
    seen_lines = sum(n for kind, _, _, seen, n in counted if seen == run and kind in line_kinds)
    new_by_kind: dict[str, int] = {}
    for kind, _, opened, _, n in counted:
        if opened == run:
            new_by_kind[kind] = new_by_kind.get(kind, 0) + n
    records = statement.records if statement is not None else 0
    return DayResult(
        provider_id=provider_id,
        business_date=day,
        statement_id=statement.id if statement is not None else None,
        records=records,
        matched=records - seen_lines,
        open_breaks=sum(n for _, status, _, _, n in counted if status == BreakStatus.OPEN.value),
        new_breaks=sum(new_by_kind.values()),
        new_by_kind=new_by_kind,
    )


def _line_breaks(statement_id: str, provider_id: str, day: date, fixed: dict[str, Any]) -> Any:
    """Lines the hub does not hold credited (near the day), or holds with other points."""
    lo, hi = day_window(previous_business_day(day))[0], day_window(next_business_day(day))[1]
    line = StatementLine
    near = and_(Receipt.state == CREDITED, Receipt.finished_at >= lo, Receipt.finished_at < hi)
    kind = case(
        (near, literal(BreakKind.POINTS_MISMATCH.value)),
        else_=literal(BreakKind.MISSING_AT_HUB.value),
    )
    values = {
        **fixed,
        "kind": kind,
        "key": kind + literal(":") + line.receipt_id,
        "receipt_id": line.receipt_id,
        "municipality_code": Receipt.municipality_code,
        "measure_id": Receipt.measure_id,
        "hub_state": Receipt.state,
        "hub_points": Receipt.points,
        "provider_points": line.points,
        "provider_reference": line.provider_reference,
        "provider_credited_at": line.credited_at,
    }
    return (
        select(*(values[name].label(name) for name in _COLUMNS))
        .select_from(line)
        .outerjoin(Receipt, and_(Receipt.id == line.receipt_id, Receipt.provider_id == provider_id))
        .where(
            line.statement_id == statement_id,
            or_(Receipt.id.is_(None), not_(and_(near, Receipt.points == line.points))),
        )
    )


def _hub_breaks(
    provider_id: str, day: date, statement_ids: Sequence[str], fixed: dict[str, Any]
) -> Any:
    """Credits of the day on neither this statement nor a neighbouring day's, and not already
    the subject of another break (a receipt listed on a far day, or credited late after its
    provider confirmed it)."""
    lo, hi = day_window(day)
    kind = BreakKind.MISSING_AT_PROVIDER.value
    listed = exists().where(
        StatementLine.statement_id.in_(list(statement_ids)),
        StatementLine.receipt_id == Receipt.id,
    )
    elsewhere = exists().where(
        Break.receipt_id == Receipt.id,
        Break.provider_id == provider_id,
        or_(Break.business_date != day, Break.kind != kind),
        or_(Break.resolution.is_(None), Break.resolution != Resolution.CLEARED.value),
    )
    values = {
        **fixed,
        "kind": literal(kind),
        "key": literal(f"{kind}:") + Receipt.id,
        "receipt_id": Receipt.id,
        "municipality_code": Receipt.municipality_code,
        "measure_id": Receipt.measure_id,
        "hub_state": Receipt.state,
        "hub_points": Receipt.points,
        "provider_points": literal(None, Break.provider_points.type),
        "provider_reference": literal(None, Break.provider_reference.type),
        "provider_credited_at": literal(None, Break.provider_credited_at.type),
    }
    return select(*(values[name].label(name) for name in _COLUMNS)).where(
        Receipt.provider_id == provider_id,
        Receipt.state == CREDITED,
        Receipt.finished_at >= lo,
        Receipt.finished_at < hi,
        not_(listed),
        not_(elsewhere),
    )


def _missing_statement(provider_id: str, day: date, fixed: dict[str, Any]) -> Any:
    """No statement by its deadline: one break for the day, with the hub's credited points."""
    lo, hi = day_window(day)
    kind = BreakKind.STATEMENT_MISSING.value
    credited = (
        select(func.coalesce(func.sum(Receipt.points), 0))
        .where(
            Receipt.provider_id == provider_id,
            Receipt.state == CREDITED,
            Receipt.finished_at >= lo,
            Receipt.finished_at < hi,
        )
        .scalar_subquery()
    )
    values = {
        **fixed,
        "kind": literal(kind),
        "key": literal(f"{kind}:"),
        "receipt_id": literal(None, Break.receipt_id.type),
        "municipality_code": literal(None, Break.municipality_code.type),
        "measure_id": literal(None, Break.measure_id.type),
        "hub_state": literal(CREDITED),
        "hub_points": credited,
        "provider_points": literal(None, Break.provider_points.type),
        "provider_reference": literal(None, Break.provider_reference.type),
        "provider_credited_at": literal(None, Break.provider_credited_at.type),
    }
    return select(*(values[name].label(name) for name in _COLUMNS)).where(literal(True))


async def days_with_open_breaks(session: AsyncSession, since: date) -> list[tuple[str, date]]:
    rows = await session.execute(
        select(Break.provider_id, Break.business_date)
        .where(Break.status == BreakStatus.OPEN.value, Break.business_date >= since)
        .distinct()
    )
    return [(p, d) for p, d in rows]
