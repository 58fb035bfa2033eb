"""provider acknowledgements, webhook message IDs, credit batches and result files

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-26 08:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "batch_result_files",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("applied", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("conflicts", sa.Integer(), nullable=False),
        sa.Column("unknown_receipt_ids", sa.JSON(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_result_files")),
        sa.UniqueConstraint(
            "provider_id", "sha256", name=op.f("uq_batch_result_files_provider_id")
        ),
    )
    op.create_table(
        "credit_batches",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("total_points", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("written_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_batches")),
    )
    with op.batch_alter_table("credit_batches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_batches_provider_id"), ["provider_id"], unique=False
        )
    op.create_table(
        "provider_webhook_messages",
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=128), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "provider_id", "message_id", name=op.f("pk_provider_webhook_messages")
        ),
    )
    op.create_table(
        "credit_batch_items",
        sa.Column("receipt_id", sa.String(length=80), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.String(length=40), nullable=True),
        sa.Column("enqueued_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["credit_batches.id"],
            name=op.f("fk_credit_batch_items_batch_id_credit_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["receipt_id"],
            ["receipts.id"],
            name=op.f("fk_credit_batch_items_receipt_id_receipts"),
        ),
        sa.PrimaryKeyConstraint("receipt_id", name=op.f("pk_credit_batch_items")),
    )
    with op.batch_alter_table("credit_batch_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_credit_batch_items_pending",
            ["provider_id", "batch_id", "enqueued_at"],
            unique=False,
        )
    op.create_table(
        "provider_acknowledgements",
        sa.Column("receipt_id", sa.String(length=80), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("provider_reference", sa.String(length=128), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("signalled_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["receipt_id"],
            ["receipts.id"],
            name=op.f("fk_provider_acknowledgements_receipt_id_receipts"),
        ),
        sa.PrimaryKeyConstraint("receipt_id", name=op.f("pk_provider_acknowledgements")),
    )
    with op.batch_alter_table("provider_acknowledgements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_provider_acknowledgements_unsignalled",
            ["provider_id", "signalled_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("provider_acknowledgements", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_acknowledgements_unsignalled")
    op.drop_table("provider_acknowledgements")
    with op.batch_alter_table("credit_batch_items", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_batch_items_pending")
    op.drop_table("credit_batch_items")
    op.drop_table("provider_webhook_messages")
    with op.batch_alter_table("credit_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_batches_provider_id"))
    op.drop_table("credit_batches")
    op.drop_table("batch_result_files")
