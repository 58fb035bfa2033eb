"""provider status (paused queues) and the code of a receipt's last provider failure

Revision ID: 0021
Revises: 0018
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0021"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider_status",
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_code", sa.String(length=40), nullable=True),
        sa.Column("last_failure_detail", sa.Text(), nullable=True),
        sa.Column("last_failure_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paused_reason", sa.String(length=40), nullable=True),
        sa.Column("paused_detail", sa.Text(), nullable=True),
        sa.Column("paused_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paused_by", sa.String(length=120), nullable=True),
        sa.Column("resumed_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resumed_by", sa.String(length=120), nullable=True),
        sa.Column("resume_note", sa.Text(), nullable=True),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider_id", name=op.f("pk_provider_status")),
    )
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_error_code", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_column("last_error_code")
    op.drop_table("provider_status")
