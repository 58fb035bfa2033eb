"""Grant state changes, each written with its line in the append-only points ledger."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.points import GrantState, LedgerMove, check_reversal, check_transition
from storage.models import Grant, LedgerEntry


def _entry(
    grant: Grant,
    from_state: str | None,
    to_state: str,
    actor: str,
    now: datetime,
    receipt_id: str | None,
) -> LedgerEntry:
    return LedgerEntry(
        grant_id=grant.id,
        measure_id=grant.measure_id,
        mykey_id=grant.mykey_id,
        from_state=from_state,
        to_state=to_state,
        points=grant.points,
        receipt_id=receipt_id,
        actor=actor,
        at=now,
    )


def add_grant(session: AsyncSession, grant: Grant, *, actor: str, now: datetime) -> None:
    """A new grant starts `unreceived`, and its points enter the ledger."""
    grant.state = GrantState.UNRECEIVED.value
    grant.created_at = now
    grant.updated_at = now
    session.add(grant)
    session.add(_entry(grant, None, grant.state, actor, now, None))


async def move_grant(
    session: AsyncSession,
    grant: Grant,
    to_state: GrantState,
    *,
    actor: str,
    now: datetime,
    receipt_id: str | None = None,
    expected: GrantState | None = None,
) -> bool:
    """Move a grant from the state it is in (or `expected`) to `to_state`, exactly once.

    The update is conditional on the current state, so two workers racing on one grant cannot
    both move it; the loser gets False and writes no ledger line.
    """
    current = GrantState(expected or grant.state)
    check_transition(current, to_state)
    values: dict[str, object] = {"state": to_state.value, "updated_at": now}
    if receipt_id is not None:
        values["current_receipt_id"] = receipt_id
    result = await session.execute(
        update(Grant)
        .where(Grant.id == grant.id, Grant.state == current.value)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.add(_entry(grant, current.value, to_state.value, actor, now, receipt_id))
    grant.state = to_state.value
    if receipt_id is not None:
        grant.current_receipt_id = receipt_id
    return True


async def reverse_credit(
    session: AsyncSession,
    grant: Grant,
    to_state: GrantState,
    *,
    actor: str,
    now: datetime,
    receipt_id: str,
) -> bool:
    """Reverse a credit its provider confirms it never made: `credited` → `to_state`, once,
    with the ledger line that keeps the balances adding up (`domain.points.REVERSIBLE`)."""
    check_reversal(GrantState.CREDITED, to_state)
    result = await session.execute(
        update(Grant)
        .where(Grant.id == grant.id, Grant.state == GrantState.CREDITED.value)
        .values(state=to_state.value, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.add(_entry(grant, GrantState.CREDITED.value, to_state.value, actor, now, receipt_id))
    grant.state = to_state.value
    return True


async def move_grants(
    session: AsyncSession,
    grant_ids: Sequence[str],
    from_state: GrantState,
    to_state: GrantState,
    *,
    actor: str,
    now: datetime,
    for_current_receipt: bool = False,
) -> list[tuple[str, int]]:
    """`move_grant` for many grants in two statements: those still in `from_state` move, each
    with its ledger line (naming the grant's current receipt when `for_current_receipt`).

    Returns (grant ID, points) of the grants moved."""
    check_transition(from_state, to_state)
    moved = (
        await session.execute(
            update(Grant)
            .where(Grant.id.in_(grant_ids), Grant.state == from_state.value)
            .values(state=to_state.value, updated_at=now)
            .returning(
                Grant.id, Grant.measure_id, Grant.mykey_id, Grant.points, Grant.current_receipt_id
            )
            .execution_options(synchronize_session=False)
        )
    ).all()
    if moved:
        await session.execute(
            insert(LedgerEntry),
            [
                {
                    "grant_id": grant_id,
                    "measure_id": measure_id,
                    "mykey_id": mykey_id,
                    "from_state": from_state.value,
                    "to_state": to_state.value,
                    "points": points,
                    "receipt_id": receipt_id if for_current_receipt else None,
                    "actor": actor,
                    "at": now,
                }
                for grant_id, measure_id, mykey_id, points, receipt_id in moved
            ],
        )
    return [(row[0], row[3]) for row in moved]


async def ledger_moves(
    session: AsyncSession, *, measure_id: str | None = None, mykey_id: str | None = None
) -> list[LedgerMove]:
    query = select(LedgerEntry.points, LedgerEntry.from_state, LedgerEntry.to_state)
    if measure_id is not None:
        query = query.where(LedgerEntry.measure_id == measure_id)
    if mykey_id is not None:
        query = query.where(LedgerEntry.mykey_id == mykey_id)
    rows = (await session.execute(query)).all()
    return [
        LedgerMove(points=p, from_state=GrantState(f) if f else None, to_state=GrantState(t))
        for p, f, t in rows
    ]
