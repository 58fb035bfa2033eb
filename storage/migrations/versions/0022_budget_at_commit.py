"""a decision's budget taken at the commit (PostgreSQL): budget_claims and its deferred trigger

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0003"  # the measures the trigger updates

# The SQLSTATEs are the hub's own (class "MP"), read by `storage/budget_refusals.py`.
TAKE_CLAIMED_BUDGET = """
CREATE FUNCTION take_claimed_budget() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    current_state text;
BEGIN
    DELETE FROM budget_claims WHERE application_id = NEW.application_id;
    UPDATE measures SET budget_used = budget_used + NEW.points
     WHERE id = NEW.measure_id
       AND state = 'published'
       AND (budget_points IS NULL OR budget_used + NEW.points <= budget_points);
    IF NOT FOUND THEN
        SELECT state INTO current_state FROM measures WHERE id = NEW.measure_id;
        IF current_state IS DISTINCT FROM 'published' THEN
            RAISE EXCEPTION 'outside_application_window' USING ERRCODE = 'MPB02';
        END IF;
        RAISE EXCEPTION 'budget_exhausted' USING ERRCODE = 'MPB01';
    END IF;
    RETURN NULL;
END
$$
"""

TRIGGER = """
CREATE CONSTRAINT TRIGGER take_budget_at_commit AFTER INSERT ON budget_claims
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION take_claimed_budget()
"""


def upgrade() -> None:
    op.create_table(
        "budget_claims",
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("measure_id", sa.String(length=40), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("application_id", name=op.f("pk_budget_claims")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(TAKE_CLAIMED_BUDGET)
        op.execute(TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER take_budget_at_commit ON budget_claims")
        op.execute("DROP FUNCTION take_claimed_budget()")
    op.drop_table("budget_claims")
