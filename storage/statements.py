"""Statements into the database: lines streamed in as they are parsed, checked set-based, and the
statement made current only when every check passed, all in the caller's one transaction.

Lines go in with PostgreSQL's COPY (a million rows in seconds) or, on SQLite, in batches of
inserts. Checks that need every line (a receipt twice, another provider's receipt) are single
queries over the lines just written, so nothing is held in memory per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.business_days import month_of
from domain.errors import RuleViolation
from domain.statements import Problem, Row
from storage.ids import new_id
from storage.models import Receipt
from storage.models.settlement import SettlementMonth, Statement, StatementLine

SQLITE_BATCH = 5000
COPY_COLUMNS = "statement_id, line, receipt_id, points, credited_at, provider_reference"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


async def check_month_open(session: AsyncSession, business_date: date) -> None:
    month = month_of(business_date)
    if await session.get(SettlementMonth, month) is not None:
        raise RuleViolation(
            "settlement_closed",
            f"the settlement of {month} is closed: its statements can no longer change",
            status=409,
        )


async def current(session: AsyncSession, provider_id: str, business_date: date) -> Statement | None:
    return (
        await session.execute(
            select(Statement).where(
                Statement.provider_id == provider_id,
                Statement.business_date == business_date,
                Statement.status == "current",
            )
        )
    ).scalar_one_or_none()


async def current_ids(session: AsyncSession, provider_id: str, days: Sequence[date]) -> list[str]:
    rows = await session.execute(
        select(Statement.id).where(
            Statement.provider_id == provider_id,
            Statement.business_date.in_(list(days)),
            Statement.status == "current",
        )
    )
    return [r[0] for r in rows]


async def start(
    session: AsyncSession,
    *,
    provider_id: str,
    business_date: date,
    source: str,
    file_name: str | None,
    actor: str,
    now: datetime,
) -> Statement:
    """The statement's row, `receiving` until `finish` makes it current."""
    statement = Statement(
        id=new_id("stm"),
        provider_id=provider_id,
        business_date=business_date,
        status="receiving",
        sha256="",
        records=0,
        total_points=0,
        source=source,
        file_name=file_name,
        received_by=actor,
        received_at=now,
        replaced_at=None,
    )
    session.add(statement)
    await session.flush()
    return statement


def _copy_text(value: str | None) -> str:
    """A value in COPY's text format: `\\N` is NULL, and tabs, line breaks and backslashes are
    escaped."""
    return "\\N" if value is None else value.translate(_ESCAPES)


class LineWriter:
    """Writes parsed rows of one statement as they come: COPY on PostgreSQL, batches on SQLite."""

    def __init__(self, session: AsyncSession, statement_id: str) -> None:
        self.session = session
        self.statement_id = statement_id
        self._copy: Any = None
        self._manager: Any = None
        self._cursor: Any = None
        self._buffer: list[dict[str, Any]] = []

    async def __aenter__(self) -> LineWriter:
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            raw = await connection.get_raw_connection()
            self._cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
            self._manager = self._cursor.copy(f"COPY statement_lines ({COPY_COLUMNS}) FROM STDIN")
            self._copy = await self._manager.__aenter__()
        return self

    async def write(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        if self._copy is not None:
            sid = self.statement_id
            text = "".join(
                f"{sid}\t{r.line}\t{r.receipt_id}\t{r.points}\t{r.credited_at.isoformat()}\t"
                f"{_copy_text(r.provider_reference)}\n"
                for r in rows
            )
            await self._copy.write(text.encode())
            return
        self._buffer.extend(
            {
                "statement_id": self.statement_id,
                "line": r.line,
                "receipt_id": r.receipt_id,
                "points": r.points,
                "credited_at": r.credited_at,
                "provider_reference": r.provider_reference,
            }
            for r in rows
        )
        if len(self._buffer) >= SQLITE_BATCH:
            await self._flush()

    async def _flush(self) -> None:
        if self._buffer:
            await self.session.execute(insert(StatementLine), self._buffer)
            self._buffer = []

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._copy is not None:
            await self._manager.__aexit__(kind, error, trace)
            await self._cursor.close()
        elif kind is None:
            await self._flush()


async def line_problems(
    session: AsyncSession, statement_id: str, provider_id: str, limit: int
) -> tuple[list[Problem], int]:
    """A receipt listed twice, and receipts of another provider: the first by line, and how many."""
    lines = StatementLine.__table__
    first = (
        select(lines.c.receipt_id, func.min(lines.c.line).label("first"))
        .where(lines.c.statement_id == statement_id)
        .group_by(lines.c.receipt_id)
        .having(func.count() > 1)
        .subquery()
    )
    again = and_(
        lines.c.statement_id == statement_id,
        lines.c.receipt_id == first.c.receipt_id,
        lines.c.line > first.c.first,
    )
    repeated = select(lines.c.line, lines.c.receipt_id, first.c.first).join(first, again)
    foreign = (
        select(lines.c.line, lines.c.receipt_id)
        .join(Receipt, Receipt.id == lines.c.receipt_id)
        .where(lines.c.statement_id == statement_id, Receipt.provider_id != provider_id)
    )
    problems = [
        Problem(line, "receipt_id", f"{receipt_id} is listed on line {first_line} already")
        for line, receipt_id, first_line in await session.execute(
            repeated.order_by(lines.c.line).limit(limit)
        )
    ]
    problems += [
        Problem(line, "receipt_id", f"{receipt_id} is not a receipt of this provider")
        for line, receipt_id in await session.execute(foreign.order_by(lines.c.line).limit(limit))
    ]
    count = 0
    if problems:
        count = int(
            (await session.execute(select(func.count()).select_from(repeated.subquery()))).scalar()
            or 0
        ) + int(
            (await session.execute(select(func.count()).select_from(foreign.subquery()))).scalar()
            or 0
        )
    return sorted(problems, key=lambda p: p.line)[:limit], count


@dataclass(frozen=True)
class Finished:
    statement: Statement
    replaced: Statement | None


async def finish(
    session: AsyncSession,
    statement: Statement,
    *,
    sha256: str,
    records: int,
    points: int,
    now: datetime,
) -> Finished:
    """Make the statement current; the one it replaces keeps its row, not its lines."""
    earlier = await current(session, statement.provider_id, statement.business_date)
    if earlier is not None:
        await session.execute(delete(StatementLine).where(StatementLine.statement_id == earlier.id))
        earlier.status = "replaced"
        earlier.replaced_at = now
        await session.flush()
    statement.status = "current"
    statement.sha256 = sha256
    statement.records = records
    statement.total_points = points
    await session.flush()
    return Finished(statement, earlier)


async def recent(session: AsyncSession, provider_id: str, *, limit: int = 50) -> list[Statement]:
    rows = await session.execute(
        select(Statement)
        .where(Statement.provider_id == provider_id, Statement.status != "receiving")
        .order_by(Statement.received_at.desc())
        .limit(limit)
    )
    return list(rows.scalars())


def hub_credits_query(provider_id: str, lo: datetime, hi: datetime) -> Any:
    """The hub's record of a provider's credits in a window, oldest first."""
    return (
        select(
            Receipt.id,
            Receipt.points,
            Receipt.measure_id,
            Receipt.municipality_code,
            Receipt.finished_at,
            Receipt.provider_reference,
        )
        .where(
            Receipt.provider_id == provider_id,
            Receipt.state == "credited",
            Receipt.finished_at >= lo,
            Receipt.finished_at < hi,
        )
        .order_by(Receipt.finished_at, Receipt.id)
    )
