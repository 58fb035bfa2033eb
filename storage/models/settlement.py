"""Providers' statements, reconciliation breaks and the monthly settlement (精算, SPEC §7).

A statement keeps its lines only while it is the current one for its provider and business day;
a corrected statement replaces it (the replaced row stays, with its checksum and counts). Breaks
are unique per provider, business day, kind and receipt, so reconciling a day again never opens
a break twice, and a resolved one stays resolved. A closed month's figures are frozen in
`settlement_lines` with the SHA-256 of each municipality's report; a later correction becomes an
adjustment shown in the next open month.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.models.receipts import Receipt

BREAK_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite numbers only INTEGER keys

# The hub's credits of one provider and business day are the receipts it finished in one
# window of time: reconciliation and the providers' credits.csv read them by this index.
Index("ix_receipts_provider_finished", Receipt.provider_id, Receipt.finished_at)


class Statement(Base):
    """One statement received for a provider and JST business day."""

    __tablename__ = "statements"
    __table_args__ = (Index("ix_statements_day", "provider_id", "business_date", "status"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(64))
    business_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # current | replaced
    sha256: Mapped[str] = mapped_column(String(64))
    records: Mapped[int] = mapped_column(Integer)
    total_points: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16))  # api | file
    file_name: Mapped[str | None] = mapped_column(String(200))
    received_by: Mapped[str] = mapped_column(String(120))
    received_at: Mapped[datetime]
    replaced_at: Mapped[datetime | None]


class StatementLine(Base):
    """A row of the current statement of its day: one credit the provider says it made."""

    __tablename__ = "statement_lines"
    __table_args__ = (Index("ix_statement_lines_receipt", "receipt_id"),)
    statement_id: Mapped[str] = mapped_column(ForeignKey("statements.id"), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    receipt_id: Mapped[str] = mapped_column(String(80))
    points: Mapped[int] = mapped_column(BigInteger)
    credited_at: Mapped[datetime]
    provider_reference: Mapped[str | None] = mapped_column(String(128))


class ReconciliationBreak(Base):
    """A disagreement between a statement and the ledger, both sides as found."""

    __tablename__ = "reconciliation_breaks"
    __table_args__ = (
        Index("uq_reconciliation_breaks_key", "provider_id", "business_date", "key", unique=True),
        Index("ix_reconciliation_breaks_status", "status", "provider_id", "business_date"),
        Index("ix_reconciliation_breaks_receipt", "receipt_id"),
    )
    id: Mapped[int] = mapped_column(BREAK_ID, primary_key=True, autoincrement=True)
    provider_id: Mapped[str] = mapped_column(String(64))
    business_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(24))
    key: Mapped[str] = mapped_column(String(120))  # kind and receipt: one break per day each
    receipt_id: Mapped[str | None] = mapped_column(String(80))
    municipality_code: Mapped[str | None] = mapped_column(String(6))
    measure_id: Mapped[str | None] = mapped_column(String(40))
    hub_state: Mapped[str | None] = mapped_column(String(16))
    hub_points: Mapped[int | None] = mapped_column(BigInteger)
    provider_points: Mapped[int | None] = mapped_column(BigInteger)
    provider_reference: Mapped[str | None] = mapped_column(String(128))
    provider_credited_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))  # open | resolved
    opened_at: Mapped[datetime]
    opened_run: Mapped[str] = mapped_column(String(40))
    seen_run: Mapped[str] = mapped_column(String(40))  # the last reconciliation that found it
    resolution: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(120))
    resolved_at: Mapped[datetime | None]


class SettlementMonth(Base):
    """A closed month: after this row exists its figures never change."""

    __tablename__ = "settlement_months"
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    closed_at: Mapped[datetime]
    closed_by: Mapped[str] = mapped_column(String(120))
    forced: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)
    open_breaks: Mapped[int] = mapped_column(Integer)
    report_sha256: Mapped[str] = mapped_column(String(64))  # over every municipality's report


class SettlementReport(Base):
    """One municipality's frozen report of a closed month: the SHA-256 of its UTF-8 CSV."""

    __tablename__ = "settlement_reports"
    month: Mapped[str] = mapped_column(ForeignKey("settlement_months.month"), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    report_sha256: Mapped[str] = mapped_column(String(64))
    totals: Mapped[dict[str, Any]]


class SettlementLine(Base):
    """A frozen line of a closed month's report, names included as they were."""

    __tablename__ = "settlement_lines"
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    measure_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider_name: Mapped[str] = mapped_column(String(200))
    measure_title: Mapped[str] = mapped_column(String(200))
    credited_points: Mapped[int] = mapped_column(BigInteger)
    statement_points: Mapped[int] = mapped_column(BigInteger)
    matched_points: Mapped[int] = mapped_column(BigInteger)
    open_breaks: Mapped[int] = mapped_column(Integer)
    yen_per_point: Mapped[int] = mapped_column(Integer)
    adjustment: Mapped[int] = mapped_column(BigInteger)
    amount_yen: Mapped[int] = mapped_column(BigInteger)


class SettlementAdjustment(Base):
    """A change to a closed month's credits, paid or recovered in the next open month."""

    __tablename__ = "settlement_adjustments"
    __table_args__ = (
        Index("ix_settlement_adjustments_pending", "municipality_code", "applied_month"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(6))
    provider_id: Mapped[str] = mapped_column(String(64))
    measure_id: Mapped[str] = mapped_column(String(40))
    points: Mapped[int] = mapped_column(BigInteger)  # negative: points no longer credited
    relates_to_month: Mapped[str] = mapped_column(String(7))
    applied_month: Mapped[str | None] = mapped_column(String(7))  # set when that month closes
    receipt_id: Mapped[str] = mapped_column(String(80))
    break_id: Mapped[int | None] = mapped_column(BREAK_ID)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
