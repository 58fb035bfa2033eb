"""What support staff look at: stuck receipts, one receipt's timeline, one resident's overview."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.receipts import TERMINAL_RECEIPT_STATES
from storage.models import (
    Application,
    Grant,
    MyKey,
    PaymentServiceRegistration,
    Receipt,
    ReceiptEvent,
)

FINAL = [s.value for s in TERMINAL_RECEIPT_STATES]


@dataclass(frozen=True)
class StuckRules:
    attempts: int  # more failed attempts than this
    age: timedelta  # open longer than this


@dataclass
class StuckReceipt:
    receipt: Receipt
    reasons: list[str]
    since: datetime


def stuck_reasons(receipt: Receipt, rules: StuckRules, now: datetime) -> tuple[list[str], datetime]:
    """Why a receipt is stuck, and since when (the earliest of its reasons)."""
    reasons: list[tuple[str, datetime]] = []
    if receipt.stuck and receipt.stuck_reason:
        reasons.append((receipt.stuck_reason, receipt.stuck_since or receipt.updated_at))
    if receipt.attempts > rules.attempts:
        reasons.append(("too_many_attempts", receipt.updated_at))
    if now - receipt.created_at > rules.age:
        reasons.append(("open_too_long", receipt.created_at + rules.age))
    return [r for r, _ in reasons], min((at for _, at in reasons), default=now)


async def stuck_receipts(
    session: AsyncSession,
    rules: StuckRules,
    *,
    now: datetime,
    older_than: timedelta | None = None,
    provider_id: str | None = None,
    state: str | None = None,
    municipality_code: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[StuckReceipt], int]:
    """Open receipts that are flagged, retried too often or open too long; newest problems first.
    Returns one page and the total count."""
    condition = and_(
        Receipt.state.not_in(FINAL),
        or_(
            Receipt.stuck.is_(True),
            Receipt.attempts > rules.attempts,
            Receipt.created_at < now - rules.age,
        ),
    )
    if older_than is not None:
        condition = and_(condition, Receipt.created_at <= now - older_than)
    if provider_id:
        condition = and_(condition, Receipt.provider_id == provider_id)
    if state:
        condition = and_(condition, Receipt.state == state)
    if municipality_code:
        condition = and_(condition, Receipt.municipality_code == municipality_code)
    total = (
        await session.execute(select(func.count()).select_from(Receipt).where(condition))
    ).scalar_one()
    newest_problem = func.coalesce(Receipt.stuck_since, Receipt.updated_at)
    rows = await session.execute(
        select(Receipt)
        .where(condition)
        .order_by(newest_problem.desc(), Receipt.id)
        .limit(limit)
        .offset(offset)
    )
    page = []
    for receipt in rows.scalars():
        reasons, since = stuck_reasons(receipt, rules, now)
        page.append(StuckReceipt(receipt, reasons, since))
    return page, int(total)


async def timeline(session: AsyncSession, receipt_id: str) -> list[ReceiptEvent]:
    rows = await session.execute(
        select(ReceiptEvent)
        .where(ReceiptEvent.receipt_id == receipt_id)
        .order_by(ReceiptEvent.at, ReceiptEvent.id)
    )
    return list(rows.scalars())


def add_note(
    session: AsyncSession, receipt: Receipt, note: str, *, actor: str, now: datetime
) -> None:
    session.add(ReceiptEvent(receipt_id=receipt.id, at=now, state="note", actor=actor, detail=note))


@dataclass
class ResidentOverview:
    mykey: MyKey
    registrations: list[PaymentServiceRegistration] = field(default_factory=list)
    applications: list[Application] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)


async def resident_overview(session: AsyncSession, mykey: MyKey) -> ResidentOverview:
    key = mykey.mykey_id
    registrations = select(PaymentServiceRegistration).where(
        PaymentServiceRegistration.mykey_id == key
    )
    return ResidentOverview(
        mykey=mykey,
        registrations=list((await session.execute(registrations)).scalars()),
        applications=list(
            (
                await session.execute(select(Application).where(Application.mykey_id == key))
            ).scalars()
        ),
        grants=list((await session.execute(select(Grant).where(Grant.mykey_id == key))).scalars()),
        receipts=list(
            (await session.execute(select(Receipt).where(Receipt.mykey_id == key))).scalars()
        ),
    )
