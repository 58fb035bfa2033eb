"""A credit its provider confirms it never made, reversed by the return rules of SPEC §3: the
receipt ends `returned`, its points show again as unreceived (forfeited when the MyKey ID was
revoked, expired when the measure's receipt deadline has passed), with the ledger line, the
timeline entry and, when the credit's month is already settled, an adjustment for the next open
month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.business_days import business_day_of, month_of
from domain.points import GrantState
from domain.receipts import ReceiptState
from storage.ids import new_id
from storage.ledger import reverse_credit
from storage.models import Grant, Measure, MyKey, Receipt, ReceiptEvent
from storage.models.settlement import SettlementAdjustment, SettlementMonth


@dataclass(frozen=True)
class Reversed:
    receipt_state: str
    grant_state: str
    adjusted_month: str | None  # the closed month whose figures the adjustment corrects


async def reverse_receipt(
    session: AsyncSession,
    receipt: Receipt,
    *,
    note: str,
    actor: str,
    now: datetime,
    break_id: int | None,
) -> Reversed | None:
    """None when the receipt is no longer credited (someone else reversed it first)."""
    credited_at = receipt.finished_at
    moved = await session.execute(
        update(Receipt)
        .where(Receipt.id == receipt.id, Receipt.state == ReceiptState.CREDITED.value)
        .values(state=ReceiptState.RETURNED.value, updated_at=now, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.add(
        ReceiptEvent(
            receipt_id=receipt.id,
            at=now,
            state=ReceiptState.RETURNED.value,
            actor=actor,
            detail=f"reconciliation: the provider confirmed no credit. {note}"[:2000],
        )
    )
    grant = await session.get(Grant, receipt.grant_id)
    measure = await session.get(Measure, receipt.measure_id)
    mykey = await session.get(MyKey, receipt.mykey_id)
    assert grant is not None and measure is not None
    if mykey is not None and mykey.status == "revoked":
        back_to = GrantState.FORFEITED
    elif now >= measure.receipt_deadline:
        back_to = GrantState.EXPIRED
    else:
        back_to = GrantState.UNRECEIVED
    await reverse_credit(session, grant, back_to, actor=actor, now=now, receipt_id=receipt.id)
    adjusted = None
    if credited_at is not None:
        month = month_of(business_day_of(credited_at))
        if await session.get(SettlementMonth, month) is not None:
            adjusted = month
            session.add(
                SettlementAdjustment(
                    id=new_id("adj"),
                    municipality_code=receipt.municipality_code,
                    provider_id=receipt.provider_id,
                    measure_id=receipt.measure_id,
                    points=-receipt.points,
                    relates_to_month=month,
                    applied_month=None,
                    receipt_id=receipt.id,
                    break_id=break_id,
                    reason=note,
                    created_at=now,
                )
            )
    receipt.state = ReceiptState.RETURNED.value
    return Reversed(receipt.state, grant.state, adjusted)
