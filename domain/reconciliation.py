"""Reconciliation breaks (SPEC §7): where a provider's statement and the hub's ledger disagree,
and how support staff may resolve each.

Matching is by receipt ID. A receipt the hub credited on one business day and the provider listed
on the neighbouring one (a credit near midnight) is a match, not a break.
"""

from __future__ import annotations

from enum import StrEnum

from domain.errors import RuleViolation
from domain.receipts import ReceiptState


class BreakKind(StrEnum):
    MISSING_AT_PROVIDER = "missing_at_provider"  # the hub holds it credited; the statement not
    MISSING_AT_HUB = "missing_at_hub"  # the statement lists it; the hub does not hold it credited
    POINTS_MISMATCH = "points_mismatch"  # both credited, with different points
    STATEMENT_MISSING = "statement_missing"  # no statement for a day by its deadline


class BreakStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Resolution(StrEnum):
    PROVIDER_CONFIRMED_CREDIT = "provider_confirmed_credit"
    PROVIDER_CONFIRMED_NO_CREDIT = "provider_confirmed_no_credit"
    ACCEPTED_DIFFERENCE = "accepted_difference"
    # Not chosen by people: the break no longer holds (a corrected or neighbouring statement
    # arrived, a late acknowledgement credited the receipt).
    CLEARED = "cleared"


STAFF_RESOLUTIONS = (
    Resolution.PROVIDER_CONFIRMED_CREDIT,
    Resolution.PROVIDER_CONFIRMED_NO_CREDIT,
    Resolution.ACCEPTED_DIFFERENCE,
)
OPEN_RECEIPT = frozenset(
    {ReceiptState.REQUESTED.value, ReceiptState.CREDITING.value, ReceiptState.ACCEPTED.value}
)
# The provider says the credit never happened: the same answers that let support return points.
NOT_CREDITED = ("not_found", "rejected")


class Action(StrEnum):
    """What a resolution does to the hub's records."""

    NOTHING = "nothing"  # the records stand; the break is closed with its note
    ACKNOWLEDGE_CREDIT = "acknowledge_credit"  # the credit is recorded as an acknowledgement
    RETURN_OPEN = "return_open"  # an open receipt goes back through support's return
    REVERSE_CREDIT = "reverse_credit"  # a credit the provider never made is reversed


def action_for(kind: BreakKind, resolution: Resolution, receipt_state: str | None) -> Action:
    """What resolving a break of `kind` with `resolution` does, given the receipt's state now
    (None: the hub has no such receipt); refuses a resolution that does not fit."""
    if resolution is Resolution.ACCEPTED_DIFFERENCE:
        return Action.NOTHING
    if resolution is Resolution.CLEARED or kind is BreakKind.STATEMENT_MISSING:
        raise _not_allowed(f"{resolution} does not resolve {kind}")
    credited = receipt_state == ReceiptState.CREDITED.value
    if resolution is Resolution.PROVIDER_CONFIRMED_CREDIT:
        if credited:
            return Action.NOTHING  # the provider confirms what the hub holds
        if receipt_state in OPEN_RECEIPT:
            return Action.ACKNOWLEDGE_CREDIT
        raise _not_allowed(
            "the hub has no receipt awaiting this credit"
            if receipt_state is None
            else f"the receipt is {receipt_state}: record the difference instead"
        )
    # provider_confirmed_no_credit
    if credited:
        return Action.REVERSE_CREDIT
    if receipt_state in OPEN_RECEIPT:
        return Action.RETURN_OPEN
    return Action.NOTHING  # unknown or already final without a credit: the row was wrong


def check_note(resolution: Resolution, note: str | None) -> str:
    text = (note or "").strip()
    if not text:
        raise RuleViolation("note_required", f"{resolution} needs a note saying why", status=422)
    return text


def _not_allowed(detail: str) -> RuleViolation:
    return RuleViolation("resolution_not_allowed", detail, status=409)
