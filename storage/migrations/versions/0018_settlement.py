"""settlement: statements, reconciliation breaks, closed months, adjustments; yen per point

Revision ID: 0018
Revises: 0004
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0018"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reconciliation_breaks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("receipt_id", sa.String(length=80), nullable=True),
        sa.Column("municipality_code", sa.String(length=6), nullable=True),
        sa.Column("measure_id", sa.String(length=40), nullable=True),
        sa.Column("hub_state", sa.String(length=16), nullable=True),
        sa.Column("hub_points", sa.BigInteger(), nullable=True),
        sa.Column("provider_points", sa.BigInteger(), nullable=True),
        sa.Column("provider_reference", sa.String(length=128), nullable=True),
        sa.Column("provider_credited_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("opened_run", sa.String(length=40), nullable=False),
        sa.Column("seen_run", sa.String(length=40), nullable=False),
        sa.Column("resolution", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.String(length=120), nullable=True),
        sa.Column("resolved_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_breaks")),
    )
    with op.batch_alter_table("reconciliation_breaks", schema=None) as batch_op:
        batch_op.create_index("ix_reconciliation_breaks_receipt", ["receipt_id"], unique=False)
        batch_op.create_index(
            "ix_reconciliation_breaks_status",
            ["status", "provider_id", "business_date"],
            unique=False,
        )
        batch_op.create_index(
            "uq_reconciliation_breaks_key", ["provider_id", "business_date", "key"], unique=True
        )

    op.create_table(
        "settlement_adjustments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("measure_id", sa.String(length=40), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("relates_to_month", sa.String(length=7), nullable=False),
        sa.Column("applied_month", sa.String(length=7), nullable=True),
        sa.Column("receipt_id", sa.String(length=80), nullable=False),
        sa.Column("break_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_adjustments")),
    )
    with op.batch_alter_table("settlement_adjustments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_settlement_adjustments_pending",
            ["municipality_code", "applied_month"],
            unique=False,
        )

    op.create_table(
        "settlement_lines",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("measure_id", sa.String(length=40), nullable=False),
        sa.Column("provider_name", sa.String(length=200), nullable=False),
        sa.Column("measure_title", sa.String(length=200), nullable=False),
        sa.Column("credited_points", sa.BigInteger(), nullable=False),
        sa.Column("statement_points", sa.BigInteger(), nullable=False),
        sa.Column("matched_points", sa.BigInteger(), nullable=False),
        sa.Column("open_breaks", sa.Integer(), nullable=False),
        sa.Column("yen_per_point", sa.Integer(), nullable=False),
        sa.Column("adjustment", sa.BigInteger(), nullable=False),
        sa.Column("amount_yen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "month",
            "municipality_code",
            "provider_id",
            "measure_id",
            name=op.f("pk_settlement_lines"),
        ),
    )
    op.create_table(
        "settlement_months",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("closed_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(length=120), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("open_breaks", sa.Integer(), nullable=False),
        sa.Column("report_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_settlement_months")),
    )
    op.create_table(
        "statements",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("total_points", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("received_by", sa.String(length=120), nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statements")),
    )
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_statements_day", ["provider_id", "business_date", "status"], unique=False
        )

    op.create_table(
        "settlement_reports",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("report_sha256", sa.String(length=64), nullable=False),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["month"],
            ["settlement_months.month"],
            name=op.f("fk_settlement_reports_month_settlement_months"),
        ),
        sa.PrimaryKeyConstraint("month", "municipality_code", name=op.f("pk_settlement_reports")),
    )
    op.create_table(
        "statement_lines",
        sa.Column("statement_id", sa.String(length=40), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("receipt_id", sa.String(length=80), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("credited_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("provider_reference", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["statements.id"],
            name=op.f("fk_statement_lines_statement_id_statements"),
        ),
        sa.PrimaryKeyConstraint("statement_id", "line", name=op.f("pk_statement_lines")),
    )
    with op.batch_alter_table("statement_lines", schema=None) as batch_op:
        batch_op.create_index("ix_statement_lines_receipt", ["receipt_id"], unique=False)

    with op.batch_alter_table("measures", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("yen_per_point", sa.Integer(), server_default="1", nullable=False)
        )

    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_receipts_provider_finished", ["provider_id", "finished_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_receipts_provider_finished")

    with op.batch_alter_table("measures", schema=None) as batch_op:
        batch_op.drop_column("yen_per_point")

    with op.batch_alter_table("statement_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_statement_lines_receipt")

    op.drop_table("statement_lines")
    op.drop_table("settlement_reports")
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.drop_index("ix_statements_day")

    op.drop_table("statements")
    op.drop_table("settlement_months")
    op.drop_table("settlement_lines")
    with op.batch_alter_table("settlement_adjustments", schema=None) as batch_op:
        batch_op.drop_index("ix_settlement_adjustments_pending")

    op.drop_table("settlement_adjustments")
    with op.batch_alter_table("reconciliation_breaks", schema=None) as batch_op:
        batch_op.drop_index("uq_reconciliation_breaks_key")
        batch_op.drop_index("ix_reconciliation_breaks_status")
        batch_op.drop_index("ix_reconciliation_breaks_receipt")

    op.drop_table("reconciliation_breaks")
