"""Tables of the hub. Points are integers; IDs are strings; times are aware UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


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


class MyKey(Base):
    __tablename__ = "mykeys"
    mykey_id: Mapped[str] = mapped_column(String(8), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # active | suspended | revoked
    issued_at: Mapped[datetime]
    status_changed_at: Mapped[datetime | None]


class CertificateBinding(Base):
    """The serial (発行番号) of a user-authentication certificate, bound to one MyKey ID."""

    __tablename__ = "certificate_bindings"
    serial_hex: Mapped[str] = mapped_column(String(64), primary_key=True)
    mykey_id: Mapped[str] = mapped_column(ForeignKey("mykeys.mykey_id"), index=True)
    issuer_fingerprint: Mapped[str] = mapped_column(String(64))
    not_before: Mapped[datetime]
    not_after: Mapped[datetime]
    predecessor_serial_hex: Mapped[str | None] = mapped_column(String(64))
    bound_at: Mapped[datetime]


class AuthChallenge(Base):
    __tablename__ = "auth_challenges"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ResidentSession(Base):
    __tablename__ = "resident_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    mykey_id: Mapped[str] = mapped_column(ForeignKey("mykeys.mykey_id"), index=True)
    serial_hex: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


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
    provider_reference: Mapped[str | None] = mapped_column(String(128))
    stuck: Mapped[bool] = mapped_column(Boolean, default=False)
    stuck_reason: Mapped[str | None] = mapped_column(String(64))
    stuck_since: Mapped[datetime | None]
    workflow_id: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class ReceiptEvent(Base):
    """The timeline of a receipt: every state it passed through, when and by whom."""

    __tablename__ = "receipt_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    receipt_id: Mapped[str] = mapped_column(ForeignKey("receipts.id"), index=True)
    at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(80))
    detail: Mapped[str | None] = mapped_column(Text)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str | None] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
