"""Providers' answers applied to many receipts at once, in the transaction that records them.

The common answer, a credit for a receipt that awaits it, is a handful of set-based statements
however many receipts a result file names: the receipts and their grants are locked, moved to
`credited` and written to the ledger, the receipt timeline and the audit log together, each a
multi-row insert without an ORM object per row. Every
other answer (a rejection, a receipt whose first attempt was never recorded) goes through
`storage.receipts.finish_credit` one at a time. A final receipt never changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.points import GrantState
from domain.receipts import ReceiptState
from storage import audit
from storage.id_lists import chunks, one_of
from storage.ledger import move_grants
from storage.models import Grant, Receipt, ReceiptEvent
from storage.receipts import finish_credit

AWAITING = (ReceiptState.CREDITING.value, ReceiptState.ACCEPTED.value)


@dataclass(frozen=True)
class Answer:
    """A provider's final answer about one receipt."""

    receipt_id: str
    status: str  # credited | rejected
    reason: str | None = None
    provider_reference: str | None = None


@dataclass(frozen=True)
class Finished:
    """A receipt's state and its grant's after the answer was applied."""

    receipt_state: str
    grant_state: str


async def finish_credits(
    session: AsyncSession, answers: Sequence[Answer], *, now: datetime, actor: str
) -> dict[str, Finished]:
    """Apply every answer; returns the states each receipt and its grant are left in."""
    done: dict[str, Finished] = {}
    credited = [a for a in answers if a.status == "credited"]
    for part in chunks([a.receipt_id for a in credited]):
        wanted = set(part)
        done.update(
            await _credit_awaiting(
                session, [a for a in credited if a.receipt_id in wanted], now=now, actor=actor
            )
        )
    for answer in (a for a in answers if a.receipt_id not in done):
        state, grant_state = await finish_credit(
            session,
            answer.receipt_id,
            status=answer.status,
            provider_reference=answer.provider_reference,
            reason=answer.reason,
            now=now,
            actor=actor,
        )
        done[answer.receipt_id] = Finished(state, grant_state)
    await audit.record_many(
        session,
        [
            audit.values(
                actor=actor,
                action="record_credit_outcome",
                object_type="receipt",
                object_id=answer.receipt_id,
                outcome=done[answer.receipt_id].receipt_state,
                detail={"status": answer.status, "reason": answer.reason},
                at=now,
            )
            for answer in answers
        ],
    )
    return done


async def _credit_awaiting(
    session: AsyncSession, answers: Sequence[Answer], *, now: datetime, actor: str
) -> dict[str, Finished]:
    """Credit the receipts that await an answer and whose grant is crediting with them."""
    rows = (
        await session.execute(
            select(Receipt.id, Grant.id)
            .join(Grant, Grant.id == Receipt.grant_id)
            .where(
                one_of(session, Receipt.id, [a.receipt_id for a in answers]),
                Receipt.state.in_(AWAITING),
                Grant.state == GrantState.CREDITING.value,
                Grant.current_receipt_id == Receipt.id,
            )
            .order_by(Receipt.id)
            .with_for_update()
        )
    ).all()
    if not rows:
        return {}
    receipt_ids = [row[0] for row in rows]
    await session.execute(
        update(Receipt)
        .where(one_of(session, Receipt.id, receipt_ids))
        .values(
            state=ReceiptState.CREDITED.value,
            updated_at=now,
            stuck=False,
            stuck_reason=None,
            stuck_since=None,
            finished_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    moved = set(receipt_ids)
    references = [
        {"rid": a.receipt_id, "reference": a.provider_reference}
        for a in answers
        if a.provider_reference is not None and a.receipt_id in moved
    ]
    if references:
        table = cast(Table, Receipt.__table__)
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("rid"))
            .values(provider_reference=bindparam("reference")),
            references,
        )
    await move_grants(
        session,
        [row[1] for row in rows],
        GrantState.CREDITING,
        GrantState.CREDITED,
        actor=actor,
        now=now,
        for_current_receipt=True,
    )
    await session.execute(
        insert(ReceiptEvent),
        [
            {"receipt_id": r, "at": now, "state": ReceiptState.CREDITED.value, "actor": actor}
            for r in receipt_ids
        ],
    )
    credited = Finished(ReceiptState.CREDITED.value, GrantState.CREDITED.value)
    return dict.fromkeys(receipt_ids, credited)
