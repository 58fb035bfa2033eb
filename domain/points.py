"""Grant states, their allowed transitions, and the ledger arithmetic (SPEC §3).

Annotations are evaluated (no `from __future__ import annotations`): `GrantView` travels in
workflow payloads, whose types the converter resolves inside the workflow sandbox.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import RuleViolation


class GrantState(StrEnum):
    UNRECEIVED = "unreceived"
    RECEIPT_REQUESTED = "receipt_requested"
    CREDITING = "crediting"
    CREDITED = "credited"
    EXPIRED = "expired"
    FORFEITED = "forfeited"


TERMINAL_GRANT_STATES = frozenset({GrantState.CREDITED, GrantState.EXPIRED, GrantState.FORFEITED})

_ALLOWED: dict[GrantState, frozenset[GrantState]] = {
    GrantState.UNRECEIVED: frozenset(
        {GrantState.RECEIPT_REQUESTED, GrantState.EXPIRED, GrantState.FORFEITED}
    ),
    GrantState.RECEIPT_REQUESTED: frozenset(
        {GrantState.CREDITING, GrantState.UNRECEIVED, GrantState.FORFEITED}
    ),
    # A rejected account sends the points back to unreceived (FAQ: 再度表示される).
    GrantState.CREDITING: frozenset(
        {GrantState.CREDITED, GrantState.UNRECEIVED, GrantState.FORFEITED}
    ),
    GrantState.CREDITED: frozenset(),
    GrantState.EXPIRED: frozenset(),
    GrantState.FORFEITED: frozenset(),
}


# A credit the provider confirms it never made (found by reconciliation) is reversed: the points
# show again as unreceived, as a rejection would have left them, or are expired or forfeited when
# the receipt deadline passed or the MyKey ID was revoked meanwhile. Only this path may leave
# `credited` (`storage.ledger.reverse_credit`).
REVERSIBLE: dict[GrantState, frozenset[GrantState]] = {
    GrantState.CREDITED: frozenset(
        {GrantState.UNRECEIVED, GrantState.EXPIRED, GrantState.FORFEITED}
    ),
}


def check_reversal(current: GrantState, target: GrantState) -> None:
    if target not in REVERSIBLE.get(current, frozenset()):
        raise RuleViolation(
            "invalid_grant_transition",
            f"a credit cannot be reversed from {current} to {target}",
            status=409,
        )


def can_transition(current: GrantState, target: GrantState) -> bool:
    return target in _ALLOWED[current]


def check_transition(current: GrantState, target: GrantState) -> None:
    if not can_transition(current, target):
        raise RuleViolation(
            "invalid_grant_transition",
            f"a grant cannot move from {current} to {target}",
            status=409,
        )


@dataclass(frozen=True)
class LedgerMove:
    """One ledger line: `points` leave `from_state` (None at creation) for `to_state`."""

    points: int
    from_state: GrantState | None
    to_state: GrantState


def balances(moves: Iterable[LedgerMove]) -> dict[GrantState, int]:
    """Points held in each state after replaying the ledger."""
    totals = {state: 0 for state in GrantState}
    for move in moves:
        if move.from_state is not None:
            totals[move.from_state] -= move.points
        totals[move.to_state] += move.points
    return totals


def granted_total(moves: Iterable[LedgerMove]) -> int:
    """Points ever granted: the sum of creation lines."""
    return sum(m.points for m in moves if m.from_state is None)


def ledger_adds_up(moves: Iterable[LedgerMove]) -> bool:
    """The invariant of SPEC §3: no state negative, and the states sum to the points granted."""
    lines = list(moves)
    totals = balances(lines)
    return all(v >= 0 for v in totals.values()) and sum(totals.values()) == granted_total(lines)


@dataclass
class GrantView:
    """A grant as workflows see it: never who the resident is."""

    grant_id: str
    points: int
    state: str
