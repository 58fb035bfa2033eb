"""audit log: append-only entries, chain head, triggers that refuse changing sealed rows

Revision ID: 0007
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0007"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The application's own login role, when the deployment has one (docs/operations.md): it may
# insert entries and seal them, never rewrite or remove them.
APP_ROLE = "mph_app"

_CONTENT = (
    "id",
    "at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "outcome",
    "request_id",
    "detail",
)

POSTGRES_UP = [
    """
    CREATE FUNCTION audit_entries_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'audit entries are append-only' USING ERRCODE = '42501';
        END IF;
        IF OLD.hash IS NOT NULL OR OLD.seq IS NOT NULL THEN
            RAISE EXCEPTION 'audit entry % is sealed', OLD.id USING ERRCODE = '42501';
        END IF;
        IF (NEW_CONTENT) IS DISTINCT FROM (OLD_CONTENT) THEN
            RAISE EXCEPTION 'only sealing may change audit entry %', OLD.id USING ERRCODE = '42501';
        END IF;
        RETURN NEW;
    END $$
    """.replace("NEW_CONTENT", ", ".join(f"NEW.{c}" for c in _CONTENT)).replace(
        "OLD_CONTENT", ", ".join(f"OLD.{c}" for c in _CONTENT)
    ),
    """
    CREATE FUNCTION audit_chain_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'the audit chain head cannot be removed' USING ERRCODE = '42501';
        END IF;
        IF NEW.last_seq < OLD.last_seq THEN
            RAISE EXCEPTION 'the audit chain head only moves forward' USING ERRCODE = '42501';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE FUNCTION audit_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% cannot be truncated', TG_TABLE_NAME USING ERRCODE = '42501';
    END $$
    """,
    "CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries"
    " FOR EACH ROW EXECUTE FUNCTION audit_entries_guard()",
    "CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries"
    " FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_truncate()",
    "CREATE TRIGGER audit_chain_head_forward BEFORE UPDATE OR DELETE ON audit_chain_head"
    " FOR EACH ROW EXECUTE FUNCTION audit_chain_head_guard()",
    "CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head"
    " FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_truncate()",
    f"""
    DO $$ BEGIN
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            REVOKE UPDATE, DELETE, TRUNCATE ON audit_entries, audit_chain_head FROM {APP_ROLE};
            GRANT SELECT, INSERT ON audit_entries, audit_chain_head TO {APP_ROLE};
            GRANT UPDATE (seq, sealed_at, hash) ON audit_entries TO {APP_ROLE};
            GRANT UPDATE (last_seq, last_hash, sealed_at) ON audit_chain_head TO {APP_ROLE};
            GRANT USAGE ON SEQUENCE audit_entries_id_seq TO {APP_ROLE};
        END IF;
    END $$
    """,
]

POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS audit_chain_head_no_truncate ON audit_chain_head",
    "DROP TRIGGER IF EXISTS audit_chain_head_forward ON audit_chain_head",
    "DROP TRIGGER IF EXISTS audit_entries_no_truncate ON audit_entries",
    "DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries",
    "DROP FUNCTION IF EXISTS audit_refuse_truncate()",
    "DROP FUNCTION IF EXISTS audit_chain_head_guard()",
    "DROP FUNCTION IF EXISTS audit_entries_guard()",
]

SQLITE_UP = [
    """
    CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
    BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END
    """,
    """
    CREATE TRIGGER audit_entries_sealed BEFORE UPDATE ON audit_entries
    WHEN OLD.hash IS NOT NULL OR OLD.seq IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'audit entry is sealed'); END
    """,
    """
    CREATE TRIGGER audit_entries_content BEFORE UPDATE ON audit_entries
    WHEN CHANGED
    BEGIN SELECT RAISE(ABORT, 'only sealing may change an audit entry'); END
    """.replace("CHANGED", " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _CONTENT)),
    """
    CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
    BEGIN SELECT RAISE(ABORT, 'the audit chain head cannot be removed'); END
    """,
    """
    CREATE TRIGGER audit_chain_head_forward BEFORE UPDATE ON audit_chain_head
    WHEN NEW.last_seq < OLD.last_seq
    BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward'); END
    """,
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_chain_head_forward",
    "DROP TRIGGER IF EXISTS audit_chain_head_no_delete",
    "DROP TRIGGER IF EXISTS audit_entries_content",
    "DROP TRIGGER IF EXISTS audit_entries_sealed",
    "DROP TRIGGER IF EXISTS audit_entries_no_delete",
]


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=160), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=80), nullable=False),
        sa.Column("request_id", sa.String(length=160), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("sealed_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_entries_seq")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entries_actor", ["actor"], unique=False)
        batch_op.create_index("ix_audit_entries_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_entries_object", ["object_type", "object_id"], unique=False)
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    dialect = op.get_bind().dialect.name
    for statement in (
        POSTGRES_UP if dialect == "postgresql" else SQLITE_UP if dialect == "sqlite" else []
    ):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in (
        POSTGRES_DOWN if dialect == "postgresql" else SQLITE_DOWN if dialect == "sqlite" else []
    ):
        op.execute(statement)
    op.drop_table("audit_chain_head")
    op.drop_table("audit_entries")
