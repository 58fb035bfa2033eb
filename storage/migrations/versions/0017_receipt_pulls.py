"""receipt pulls: how many times a pull provider fetched a credit request (issue 17)

A pull-mode receipt is returned to unreceived only when no pull came between the provider's
`not_found` and the return: the status check reads `pulls` before it asks the provider, the
pull listing counts what it hands out, and the return moves the receipt only while `pulls` is
still what the check read, in one statement (a pull after the return gets nothing).

Revision ID: 0017
Revises: 0018
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("receipts") as batch:
        batch.add_column(sa.Column("pulls", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("receipts") as batch:
        batch.drop_column("pulls")
