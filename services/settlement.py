"""The monthly settlement (精算, SPEC §7): a municipality's month as it stands (open) or as it
was frozen (closed), its CSV, closing a month, and checking a closed month against the ledger.

Closing freezes every municipality's lines and the SHA-256 of each report (the UTF-8 CSV), in one
transaction; it waits for the month's open breaks unless an operator forces it with a note. A
statement for a closed month's day is refused from then on, and a later correction (a credit
reversed) becomes an adjustment of the next open month.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from domain.business_days import month_end, parse_month
from domain.errors import RuleViolation
from domain.privacy import refuse_my_numbers
from domain.settlement import (
    ENCODINGS,
    Line,
    Totals,
    month_digest,
    render_csv,
    sha256_hex,
    totals,
)
from storage import audit
from storage import settlement as figures
from storage.models import Municipality
from storage.models.settlement import SettlementAdjustment, SettlementMonth, SettlementReport


def check_month(month: str) -> str:
    try:
        parse_month(month)
    except ValueError as exc:
        raise RuleViolation("invalid_month", "a month is YYYY-MM", status=422) from exc
    return month


@dataclass
class MonthReport:
    month: str
    municipality_code: str
    status: str  # open | closed
    lines: list[Line]
    totals: Totals
    report_sha256: str | None = None
    closed_at: str | None = None

    def csv(self, encoding: str = "utf-8") -> bytes:
        return render_csv(self.month, self.municipality_code, self.lines, self.totals, encoding)


async def month_report(ctx: Any, code: str, month: str) -> MonthReport:
    check_month(month)
    async with ctx.sessions() as session:
        closed = await session.get(SettlementMonth, month)
        if closed is not None:
            frozen = await figures.report(session, month, code)
            lines = await figures.frozen_lines(session, code, month)
            total = Totals(**frozen.totals) if frozen is not None else totals(lines)
            return MonthReport(
                month,
                code,
                "closed",
                lines,
                total,
                frozen.report_sha256 if frozen is not None else None,
                closed.closed_at.isoformat(),
            )
        lines, day_breaks, _ = await figures.open_lines(
            session, code, month, await figures.closed_months(session)
        )
    return MonthReport(month, code, "open", lines, totals(lines, day_breaks))


def check_encoding(encoding: str) -> str:
    if encoding not in ENCODINGS:
        raise RuleViolation(
            "validation_error", f"encoding is one of {sorted(ENCODINGS)}", status=422
        )
    return encoding


@dataclass
class Closed:
    month: str
    closed_at: str
    closed_by: str
    forced: bool
    note: str | None
    open_breaks: int
    report_sha256: str
    reports: list[MonthReport] = field(default_factory=list)


async def close(ctx: Any, month: str, *, force: bool, note: str | None, actor: str) -> Closed:
    """Freeze the month for every municipality; refused while breaks are open unless forced."""
    check_month(month)
    note = (note or "").strip() or None
    refuse_my_numbers(note=note)
    now = ctx.clock()
    if now < month_end(month):
        raise RuleViolation("month_not_ended", f"{month} has not ended yet (JST)", status=409)
    if force and note is None:
        raise RuleViolation("note_required", "closing with open breaks needs a note", status=422)
    async with ctx.sessions.begin() as session:
        if await session.get(SettlementMonth, month, with_for_update=True) is not None:
            raise RuleViolation("settlement_closed", f"{month} is closed already", status=409)
        pending = await figures.open_breaks_in(session, month)
        if pending and not force:
            raise RuleViolation(
                "open_breaks",
                f"{month} has {pending} open reconciliation break(s); resolve them, "
                "or close with force and a note",
                status=409,
                open_breaks=pending,
            )
        closed = await figures.closed_months(session)
        codes = [c for (c,) in await session.execute(select(Municipality.code))]
        reports: list[MonthReport] = []
        applied: list[str] = []
        for code in sorted(codes):
            lines, day_breaks, adjustment_ids = await figures.open_lines(
                session, code, month, closed
            )
            total = totals(lines, day_breaks)
            found = MonthReport(month, code, "closed", lines, total)
            found.report_sha256 = sha256_hex(found.csv())
            found.closed_at = now.isoformat()
            reports.append(found)
            applied += adjustment_ids
        digest = month_digest({r.municipality_code: str(r.report_sha256) for r in reports})
        session.add(
            SettlementMonth(
                month=month,
                closed_at=now,
                closed_by=actor,
                forced=bool(force and pending),
                note=note,
                open_breaks=pending,
                report_sha256=digest,
            )
        )
        await session.flush()
        for found in reports:
            figures.freeze(session, month, found.municipality_code, found.lines)
            session.add(
                SettlementReport(
                    month=month,
                    municipality_code=found.municipality_code,
                    report_sha256=found.report_sha256,
                    totals=found.totals.as_dict(),
                )
            )
        if applied:
            await session.execute(
                update(SettlementAdjustment)
                .where(SettlementAdjustment.id.in_(applied))
                .values(applied_month=month)
            )
        audit.record(
            session,
            actor=actor,
            action="close_settlement",
            object_type="settlement_month",
            object_id=month,
            outcome="forced" if force and pending else "closed",
            detail={"open_breaks": pending, "note": note, "report_sha256": digest},
            at=now,
        )
    return Closed(
        month, now.isoformat(), actor, bool(force and pending), note, pending, digest, reports
    )


async def verify(ctx: Any, month: str) -> list[str]:
    """Recompute a closed month from the ledger as it stood when the month closed, and its
    reports' SHA-256; every difference found, or nothing."""
    check_month(month)
    differences: list[str] = []
    async with ctx.sessions() as session:
        closed = await session.get(SettlementMonth, month)
        if closed is None:
            raise RuleViolation("settlement_open", f"{month} is not closed", status=409)
        reports = list(
            (
                await session.execute(
                    select(SettlementReport).where(SettlementReport.month == month)
                )
            ).scalars()
        )
        digests = {}
        for stored in reports:
            code = stored.municipality_code
            lines = await figures.frozen_lines(session, code, month)
            by_key = {(x.provider_id, x.measure_id): x for x in lines}
            ledger = await figures.credited_points(session, code, month, as_of=closed.closed_at)
            adjusted = await figures.applied_adjustments(session, code, month)
            for key in sorted(set(by_key) | set(ledger) | set(adjusted)):
                line = by_key.get(key)
                frozen_credit = line.credited_points if line else 0
                frozen_adjustment = line.adjustment if line else 0
                where = f"{month} {code} {key[0]} {key[1]}"
                if ledger.get(key, 0) != frozen_credit:
                    differences.append(
                        f"{where}: the ledger credited {ledger.get(key, 0)} points, "
                        f"the closed report says {frozen_credit}"
                    )
                if adjusted.get(key, 0) != frozen_adjustment:
                    differences.append(
                        f"{where}: adjustments add up to {adjusted.get(key, 0)}, "
                        f"the closed report says {frozen_adjustment}"
                    )
            rendered = render_csv(month, code, lines, Totals(**stored.totals))
            if sha256_hex(rendered) != stored.report_sha256:
                differences.append(f"{month} {code}: the report's SHA-256 does not match")
            if Totals(**stored.totals) != totals(
                lines, stored.totals["open_breaks"] - sum(x.open_breaks for x in lines)
            ):
                differences.append(f"{month} {code}: the totals are not the sum of the lines")
            digests[code] = stored.report_sha256
        if month_digest(digests) != closed.report_sha256:
            differences.append(f"{month}: the month's SHA-256 does not match its reports")
    return differences
