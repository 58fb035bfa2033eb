from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import RuleViolation
from domain.points import (
    TERMINAL_GRANT_STATES,
    GrantState,
    LedgerMove,
    balances,
    can_transition,
    check_transition,
    ledger_adds_up,
)

G = GrantState


def test_the_happy_path_is_allowed() -> None:
    path = [G.UNRECEIVED, G.RECEIPT_REQUESTED, G.CREDITING, G.CREDITED]
    assert all(can_transition(a, b) for a, b in itertools.pairwise(path))


def test_a_rejected_account_returns_points_to_unreceived() -> None:
    assert can_transition(G.CREDITING, G.UNRECEIVED)


@pytest.mark.parametrize("terminal", sorted(TERMINAL_GRANT_STATES))
def test_terminal_states_never_change(terminal: GrantState) -> None:
    for target in GrantState:
        assert not can_transition(terminal, target)
        if target != terminal:
            with pytest.raises(RuleViolation):
                check_transition(terminal, target)


def test_only_unreceived_points_expire() -> None:
    assert can_transition(G.UNRECEIVED, G.EXPIRED)
    assert not can_transition(G.CREDITING, G.EXPIRED)


@st.composite
def ledgers(draw: st.DrawFn) -> list[LedgerMove]:
    """Random walks of grants through allowed transitions, as the ledger would record them."""
    moves: list[LedgerMove] = []
    for _ in range(draw(st.integers(1, 8))):
        points = draw(st.integers(1, 10_000))
        state = G.UNRECEIVED
        moves.append(LedgerMove(points, None, state))
        for _ in range(draw(st.integers(0, 6))):
            options = [t for t in GrantState if can_transition(state, t)]
            if not options:
                break
            target = draw(st.sampled_from(options))
            moves.append(LedgerMove(points, state, target))
            state = target
    return moves


@given(ledgers())
def test_any_allowed_history_adds_up(moves: list[LedgerMove]) -> None:
    assert ledger_adds_up(moves)
    assert sum(balances(moves).values()) == sum(m.points for m in moves if m.from_state is None)


def test_a_missing_line_is_detected() -> None:
    moves = [
        LedgerMove(100, None, G.UNRECEIVED),
        LedgerMove(100, G.RECEIPT_REQUESTED, G.CREDITING),  # skipped a step
    ]
    assert not ledger_adds_up(moves)
