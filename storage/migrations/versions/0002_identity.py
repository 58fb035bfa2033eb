"""identity: the history of MyKey ID suspensions, resumptions and revocations

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mykey_status_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("mykey_id", sa.String(length=8), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mykey_id"],
            ["mykeys.mykey_id"],
            name=op.f("fk_mykey_status_changes_mykey_id_mykeys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mykey_status_changes")),
    )
    with op.batch_alter_table("mykey_status_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mykey_status_changes_mykey_id"), ["mykey_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("mykey_status_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mykey_status_changes_mykey_id"))
    op.drop_table("mykey_status_changes")
