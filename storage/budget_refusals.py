"""Refusals that PostgreSQL raises as a decision commits, turned into the hub's own.

A decision's budget is taken by a deferred trigger at the commit (`models/budget.BudgetClaim`,
migration 0022), so a refusal arrives as the commit's error with one of the SQLSTATEs below. The
engine's `handle_error` hook raises the `RuleViolation` the same rule raises on SQLite, where
`storage/grants.reserve_budget` runs the update itself; the transaction is rolled back, so a
refusal writes nothing either way.
"""

from __future__ import annotations

from typing import Any

from domain.errors import RuleViolation

REFUSALS = {
    "MPB01": ("budget_exhausted", "the measure's budget is used up"),
    "MPB02": ("outside_application_window", "this measure no longer accepts applications"),
}


def refusal_of(error: BaseException | None) -> RuleViolation | None:
    """The rule a database error stands for, or None if it is not one of the hub's refusals."""
    refused = REFUSALS.get(getattr(error, "sqlstate", None) or "")
    if refused is None:
        return None
    return RuleViolation(*refused, status=409)


def raise_refusal(context: Any) -> None:
    """`handle_error` listener: a refusal raised by the budget's trigger becomes its rule."""
    refusal = refusal_of(context.original_exception)
    if refusal is not None:
        raise refusal
