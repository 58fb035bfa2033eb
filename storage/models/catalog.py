"""Municipalities, payment providers and services, measures and their target lists."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class Municipality(Base):
    __tablename__ = "municipalities"
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class PaymentProvider(Base):
    __tablename__ = "payment_providers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    adapter: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]]
    secrets: Mapped[dict[str, Any]]  # write-only through the API; never returned
    created_at: Mapped[datetime]


class PaymentService(Base):
    __tablename__ = "payment_services"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    provider_id: Mapped[str] = mapped_column(ForeignKey("payment_providers.id"))
    created_at: Mapped[datetime]


class Measure(Base):
    __tablename__ = "measures"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(ForeignKey("municipalities.code"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    points_per_grant: Mapped[int]
    per_person_cap: Mapped[int]
    budget_points: Mapped[int | None] = mapped_column(BigInteger)
    budget_used: Mapped[int] = mapped_column(BigInteger, default=0)
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    receipt_deadline: Mapped[datetime]
    target_list_only: Mapped[bool] = mapped_column(Boolean)
    auto_grant: Mapped[bool] = mapped_column(Boolean)
    review_required: Mapped[bool] = mapped_column(Boolean)
    late_report_days: Mapped[int]
    # Yen the municipality pays a provider per credited point in the monthly settlement (精算).
    yen_per_point: Mapped[int] = mapped_column(default=1, server_default="1")
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class MeasurePaymentService(Base):
    __tablename__ = "measure_payment_services"
    measure_id: Mapped[str] = mapped_column(ForeignKey("measures.id"), primary_key=True)
    payment_service_id: Mapped[str] = mapped_column(
        ForeignKey("payment_services.id"), primary_key=True
    )
    available_from: Mapped[datetime]


class MeasureTarget(Base):
    __tablename__ = "measure_targets"
    measure_id: Mapped[str] = mapped_column(ForeignKey("measures.id"), primary_key=True)
    mykey_id: Mapped[str] = mapped_column(String(8), primary_key=True)
