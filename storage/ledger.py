"""Grant state changes, each written with its line in the append-only points ledger."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from domain.points import GrantState, LedgerMove, check_reversal, check_transition
from storage.id_lists import one_of
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
    **also: object,
) -> bool:
    """Move a grant from the state it is in (or `expected`) to `to_state`, exactly once.

    The update is conditional on the current state, so two workers racing on one grant cannot
    both move it; the loser gets False and writes no ledger line. `also` names further columns
    the same statement sets (SQL expressions allowed; the loaded row keeps their old values).
    """
    current = GrantState(expected or grant.state)
    check_transition(current, to_state)
    values: dict[str, object] = {"state": to_state.value, "updated_at": now}
    if receipt_id is not None:
        values["current_receipt_id"] = receipt_id
    result = await session.execute(
        update(Grant)
        .where(Grant.id == grant.id, Grant.state == current.value)
        .values(**values, **also)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.add(_entry(grant, current.value, to_state.value, actor, now, receipt_id))
    written(grant, values)
    return True


def written(row: object, values: dict[str, object]) -> None:
    """Show on a loaded row what a Core `UPDATE` just wrote to it, as committed values: set as
    plain attributes, the ORM would write them a second time at its next flush."""
    for name, value in values.items():
        set_committed_value(row, name, value)


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
    written(grant, {"state": to_state.value, "updated_at": now})
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
    receipt_id: str | None = None,
) -> list[tuple[str, int]]:
    """`move_grant` for many grants in two statements: those still in `from_state` move, each
    with its ledger line (naming the grant's current receipt when `for_current_receipt`; given
    `receipt_id`, that receipt becomes their current one and their lines name it).

    Returns (grant ID, points) of the grants moved."""
    check_transition(from_state, to_state)
    values: dict[str, object] = {"state": to_state.value, "updated_at": now}
    if receipt_id is not None:
        values["current_receipt_id"] = receipt_id
    moved = (
        await session.execute(
            update(Grant)
            .where(one_of(session, Grant.id, grant_ids), Grant.state == from_state.value)
            .values(**values)
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
                    "receipt_id": receipt_id or (current if for_current_receipt else None),
                    "actor": actor,
                    "at": now,
                }
                for grant_id, measure_id, mykey_id, points, current in moved
            ],
        )
        for row in moved:  # a grant this session holds shows its new state
            loaded = session.identity_map.get(identity_key(Grant, row[0]))
            if loaded is not None:
                written(loaded, values)
    return [(row[0], row[3]) for row in moved]


async def move_grant_id(
    session: AsyncSession,
    grant_id: str,
    from_state: GrantState,
    to_state: GrantState,
    *,
    actor: str,
    now: datetime,
    receipt_id: str,
) -> bool:
    """`move_grant` for a grant not read: one conditional `UPDATE … RETURNING` gives what its
    ledger line needs. False (and no line) when the grant is not in `from_state`."""
    moved = await move_grants(
        session, [grant_id], from_state, to_state, actor=actor, now=now, receipt_id=receipt_id
    )
    return bool(moved)


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
