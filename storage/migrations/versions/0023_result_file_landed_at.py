"""when a batch result file landed in the inbox, beside when the hub took it in

Revision ID: 0023
Revises: 0017
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0023"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("batch_result_files", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("landed_at", storage.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("batch_result_files", schema=None) as batch_op:
        batch_op.drop_column("landed_at")
