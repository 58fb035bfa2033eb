"""Applications, grants and the append-only points ledger."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (UniqueConstraint("measure_id", "mykey_id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    measure_id: Mapped[str] = mapped_column(ForeignKey("measures.id"))
    mykey_id: Mapped[str] = mapped_column(ForeignKey("mykeys.mykey_id"), index=True)
    state: Mapped[str] = mapped_column(String(20))  # granted|registered|pending_review|rejected
    workflow_id: Mapped[str] = mapped_column(String(120))
    fixed_registration_id: Mapped[str | None] = mapped_column(String(40))
    points_granted: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class Grant(Base):
    __tablename__ = "grants"
    __table_args__ = (Index("ix_grants_mykey_state", "mykey_id", "state"),)
    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    measure_id: Mapped[str] = mapped_column(ForeignKey("measures.id"), index=True)
    mykey_id: Mapped[str] = mapped_column(String(8))
    event_id: Mapped[str | None] = mapped_column(String(40))
    points: Mapped[int]
    state: Mapped[str] = mapped_column(String(20))
    receipt_count: Mapped[int] = mapped_column(Integer, default=0)
    current_receipt_id: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class LedgerEntry(Base):
    """Append-only: every change of a grant's state, with the points that moved."""

    __tablename__ = "ledger_entries"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id"), index=True)
    measure_id: Mapped[str] = mapped_column(String(40), index=True)
    mykey_id: Mapped[str] = mapped_column(String(8), index=True)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    points: Mapped[int]
    receipt_id: Mapped[str | None] = mapped_column(String(80))
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime]
