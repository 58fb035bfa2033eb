"""My Payment Service registrations, receipts and their timelines."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class PaymentServiceRegistration(Base):
    __tablename__ = "payment_service_registrations"
    __table_args__ = (UniqueConstraint("payment_service_id", "account_id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    mykey_id: Mapped[str] = mapped_column(ForeignKey("mykeys.mykey_id"), index=True)
    payment_service_id: Mapped[str] = mapped_column(ForeignKey("payment_services.id"))
    account_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # active | invalid
    created_at: Mapped[datetime]
    invalidated_at: Mapped[datetime | None]


class Receipt(Base):
    __tablename__ = "receipts"
    __table_args__ = (Index("ix_receipts_provider_state", "provider_id", "state"),)
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id"), index=True)
    measure_id: Mapped[str] = mapped_column(String(40))
    municipality_code: Mapped[str] = mapped_column(String(6))
    mykey_id: Mapped[str] = mapped_column(String(8), index=True)
    registration_id: Mapped[str] = mapped_column(ForeignKey("payment_service_registrations.id"))
    payment_service_id: Mapped[str] = mapped_column(String(64))
    provider_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str] = mapped_column(String(128))
    points: Mapped[int]
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The stable code of the last provider failure (domain.provider_errors), shown with its
    # message; `last_error` keeps the raw detail.
    last_error_code: Mapped[str | None] = mapped_column(String(40))
    provider_reference: Mapped[str | None] = mapped_column(String(128))
    stuck: Mapped[bool] = mapped_column(Boolean, default=False)
    stuck_reason: Mapped[str | None] = mapped_column(String(64))
    stuck_since: Mapped[datetime | None]
    workflow_id: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    # How many times a pull provider fetched this credit request (a return needs none since
    # the provider's `not_found`; migration 0017).
    pulls: Mapped[int] = mapped_column(default=0, server_default="0")


class ReceiptEvent(Base):
    """The timeline of a receipt: every state it passed through, when and by whom."""

    __tablename__ = "receipt_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    receipt_id: Mapped[str] = mapped_column(ForeignKey("receipts.id"), index=True)
    at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(80))
    detail: Mapped[str | None] = mapped_column(Text)
