"""What providers tell the hub, and what the hub sends them in files.

Acknowledgements are kept one per receipt (the first answer wins; a contradicting one is refused),
webhook message IDs are kept so a replayed webhook is ignored, and the batch tables carry credit
requests from the `credit` activity to the per-provider dispatcher and its files.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class ProviderAcknowledgement(Base):
    """A provider's final answer about one receipt, by webhook, pull API or batch result file."""

    __tablename__ = "provider_acknowledgements"
    __table_args__ = (
        Index("ix_provider_acknowledgements_unsignalled", "provider_id", "signalled_at"),
    )
    receipt_id: Mapped[str] = mapped_column(ForeignKey("receipts.id"), primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # credited | rejected
    reason: Mapped[str | None] = mapped_column(String(200))
    provider_reference: Mapped[str | None] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))  # webhook | pull | batch
    received_at: Mapped[datetime]
    signalled_at: Mapped[datetime | None]  # the workflow was told (or had already ended)


class ProviderWebhookMessage(Base):
    """Webhook IDs already processed: a repeated `webhook-id` is answered but not acted on."""

    __tablename__ = "provider_webhook_messages"
    provider_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime]


class CreditBatch(Base):
    """One request file: `assigned` (rows chosen) until its CSV and manifest are `written`."""

    __tablename__ = "credit_batches"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))  # assigned | written
    file_name: Mapped[str | None] = mapped_column(String(200))
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    total_points: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    written_at: Mapped[datetime | None]


class CreditBatchItem(Base):
    """The queue: a receipt waiting for its provider's next batch (`batch_id` empty) or in one."""

    __tablename__ = "credit_batch_items"
    __table_args__ = (
        Index("ix_credit_batch_items_pending", "provider_id", "batch_id", "enqueued_at"),
    )
    receipt_id: Mapped[str] = mapped_column(ForeignKey("receipts.id"), primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("credit_batches.id"))
    enqueued_at: Mapped[datetime]


class BatchResultFile(Base):
    """A result file seen from a provider: ingested or refused once, known by its checksum."""

    __tablename__ = "batch_result_files"
    __table_args__ = (UniqueConstraint("provider_id", "sha256"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # ingested | refused
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    applied: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    conflicts: Mapped[int] = mapped_column(Integer, default=0)
    unknown_receipt_ids: Mapped[list[str] | None] = mapped_column(JSON)
    detail: Mapped[str | None] = mapped_column(Text)
    landed_at: Mapped[datetime | None]  # complete in the inbox: its manifest's modification time
    received_at: Mapped[datetime]  # taken in by the hub
