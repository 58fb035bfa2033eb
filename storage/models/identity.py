"""MyKey IDs, the certificate serials bound to them, login challenges and sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class MyKey(Base):
    __tablename__ = "mykeys"
    mykey_id: Mapped[str] = mapped_column(String(8), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # active | suspended | revoked
    issued_at: Mapped[datetime]
    status_changed_at: Mapped[datetime | None]


class MyKeyStatusChange(Base):
    """Append-only: every suspension, resumption and revocation of a MyKey ID, with its reason."""

    __tablename__ = "mykey_status_changes"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    mykey_id: Mapped[str] = mapped_column(ForeignKey("mykeys.mykey_id"), index=True)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime]


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
