"""The audit log (SPEC §6): append-only entries, sealed into an HMAC chain after commit.

An entry is inserted by the transaction whose change it records, without a chain position or
hash, so appending takes no lock beyond the row itself. The sealer later gives unsealed
entries their `seq` (the chain index, from 1) and `hash` in batches and moves the chain head.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base

AUDIT_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite numbers only INTEGER keys


class AuditEntry(Base):
    """Who did what to which object, when, with what outcome, under which request."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_object", "object_type", "object_id"),
        Index("ix_audit_entries_actor", "actor"),
        Index("ix_audit_entries_at", "at"),
    )
    id: Mapped[int] = mapped_column(AUDIT_ID, primary_key=True, autoincrement=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)  # chain index once sealed
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(120))  # role:key ID | resident:<MyKey> | workflow
    action: Mapped[str] = mapped_column(String(160))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(80))
    request_id: Mapped[str | None] = mapped_column(String(160))
    detail: Mapped[str | None] = mapped_column(Text)  # canonical JSON, redacted
    sealed_at: Mapped[datetime | None]
    hash: Mapped[str | None] = mapped_column(String(64))  # HMAC-SHA256 over previous hash + entry


class AuditChainHead(Base):
    """The last sealed index and hash: a cut tail is a chain shorter than its head says."""

    __tablename__ = "audit_chain_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime]
