"""attendance reports and reviews

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0006"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attendance_reports",
        sa.Column("id", sa.String(length=60), nullable=False),
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("measure_id", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("mykey_id", sa.String(length=8), nullable=False),
        sa.Column("reported_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("timing", sa.String(length=16), nullable=False),
        sa.Column("lateness_s", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("grant_id", sa.String(length=60), nullable=True),
        sa.Column("review_id", sa.String(length=60), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_attendance_reports_application_id_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_attendance_reports_event_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance_reports")),
        sa.UniqueConstraint("event_id", "mykey_id", name=op.f("uq_attendance_reports_event_id")),
    )
    with op.batch_alter_table("attendance_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_attendance_reports_application_id"), ["application_id"], unique=False
        )
    op.create_table(
        "reviews",
        sa.Column("id", sa.String(length=60), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("measure_id", sa.String(length=40), nullable=False),
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("workflow_id", sa.String(length=120), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=True),
        sa.Column("report_id", sa.String(length=60), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("decided_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("remind_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reminded_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decide_by", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("default_decision", sa.String(length=8), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_reviews_application_id_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
    )
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reviews_measure_id"), ["measure_id"], unique=False)
        batch_op.create_index(
            "ix_reviews_municipality_status", ["municipality_code", "status"], unique=False
        )


def downgrade() -> None:
    op.drop_table("reviews")
    op.drop_table("attendance_reports")
