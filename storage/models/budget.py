"""A claim on a measure's budget that PostgreSQL takes as the transaction commits."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class BudgetClaim(Base):
    """Written by a decision as its last statement; on PostgreSQL a deferred constraint trigger
    (`take_claimed_budget`, migration 0022) takes the points from the measure at the commit and
    deletes the row, so the table holds no committed rows. The trigger's condition is the same
    as `storage/grants.reserve_budget`'s with `published_only`."""

    __tablename__ = "budget_claims"
    application_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    measure_id: Mapped[str] = mapped_column(String(40))
    points: Mapped[int] = mapped_column(BigInteger)
