"""What providers tell the hub: acknowledgements, webhook message IDs, closed accounts, and the
pending credit requests a pull provider fetches. Set-based, so a result file of ten thousand rows
is a handful of statements."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from domain.receipts import ReceiptState
from storage.id_lists import CHUNK, chunks, one_of
from storage.models import Base, Grant, PaymentService, PaymentServiceRegistration, Receipt
from storage.models.providers import ProviderAcknowledgement, ProviderWebhookMessage


async def insert_new(
    session: AsyncSession, model: type[Base], rows: list[dict[str, Any]], key: str
) -> set[str]:
    """Insert the rows whose key is not taken yet; returns the keys this call inserted."""
    if not rows:
        return set()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    inserted: set[str] = set()
    # Parameters given apart from the statement: SQLAlchemy renders them in batches
    # ("insertmanyvalues") without building an ORM key-value pair per column of every row.
    statement = dialect.insert(model).on_conflict_do_nothing().returning(getattr(model, key))
    for start in range(0, len(rows), CHUNK):
        found = await session.execute(statement, rows[start : start + CHUNK])
        inserted.update(str(k) for k in found.scalars())
    return inserted


@dataclass(frozen=True)
class ReceiptFacts:
    """The little an acknowledgement needs to know about its receipt."""

    receipt_id: str
    provider_id: str
    state: str
    workflow_id: str


async def receipt_facts_and_acknowledgements(
    session: AsyncSession, receipt_ids: Sequence[str]
) -> tuple[dict[str, ReceiptFacts], dict[str, ProviderAcknowledgement]]:
    """What an answer needs to know about each of these receipts, and the acknowledgement
    already recorded for it, if any: one query per chunk of IDs."""
    facts: dict[str, ReceiptFacts] = {}
    prior: dict[str, ProviderAcknowledgement] = {}
    for part in chunks(receipt_ids):
        rows = await session.execute(
            select(
                Receipt.id,
                Receipt.provider_id,
                Receipt.state,
                Receipt.workflow_id,
                ProviderAcknowledgement,
            )
            .outerjoin(ProviderAcknowledgement, ProviderAcknowledgement.receipt_id == Receipt.id)
            .where(one_of(session, Receipt.id, part))
        )
        for receipt_id, provider_id, state, workflow_id, acknowledgement in rows.all():
            facts[receipt_id] = ReceiptFacts(receipt_id, provider_id, state, workflow_id)
            if acknowledgement is not None:
                prior[receipt_id] = acknowledgement
    return facts, prior


async def acknowledgements(
    session: AsyncSession, receipt_ids: Sequence[str]
) -> dict[str, ProviderAcknowledgement]:
    found: dict[str, ProviderAcknowledgement] = {}
    for part in chunks(receipt_ids):
        rows = await session.execute(
            select(ProviderAcknowledgement).where(
                one_of(session, ProviderAcknowledgement.receipt_id, part)
            )
        )
        found.update({row.receipt_id: row for row in rows.scalars()})
    return found


async def record_acknowledgements(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """The first acknowledgement of a receipt is kept; returns the receipts recorded now."""
    return await insert_new(session, ProviderAcknowledgement, rows, "receipt_id")


async def mark_signalled(session: AsyncSession, receipt_ids: Sequence[str], now: datetime) -> None:
    for part in chunks(receipt_ids):
        await session.execute(
            update(ProviderAcknowledgement)
            .where(
                one_of(session, ProviderAcknowledgement.receipt_id, part),
                ProviderAcknowledgement.signalled_at.is_(None),
            )
            .values(signalled_at=now)
        )


@dataclass(frozen=True)
class Unsignalled:
    """An answer recorded and not yet told to its workflow, with its receipt as it is now."""

    answer: ProviderAcknowledgement
    workflow_id: str
    receipt_state: str
    grant_state: str


async def unsignalled(
    session: AsyncSession,
    provider_id: str,
    *,
    received_before: datetime,
    limit: int,
    any_age: Collection[str] = (),
) -> list[Unsignalled]:
    """Acknowledgements recorded but not yet delivered to their workflow, oldest first: those
    received before `received_before`, and those from a source in `any_age` however recent."""
    due = ProviderAcknowledgement.received_at < received_before
    if any_age:
        due = or_(due, ProviderAcknowledgement.source.in_(list(any_age)))
    rows = await session.execute(
        select(ProviderAcknowledgement, Receipt.workflow_id, Receipt.state, Grant.state)
        .join(Receipt, Receipt.id == ProviderAcknowledgement.receipt_id)
        .join(Grant, Grant.id == Receipt.grant_id)
        .where(
            ProviderAcknowledgement.provider_id == provider_id,
            ProviderAcknowledgement.signalled_at.is_(None),
            due,
        )
        .order_by(ProviderAcknowledgement.received_at)
        .limit(limit)
    )
    return [Unsignalled(*row) for row in rows.all()]


async def remember_message(
    session: AsyncSession, provider_id: str, message_id: str, event_type: str, now: datetime
) -> bool:
    """True the first time this provider sends this `webhook-id`."""
    inserted = await insert_new(
        session,
        ProviderWebhookMessage,
        [
            {
                "provider_id": provider_id,
                "message_id": message_id,
                "event_type": event_type,
                "received_at": now,
            }
        ],
        "message_id",
    )
    return bool(inserted)


async def forget_message(session: AsyncSession, provider_id: str, message_id: str) -> None:
    """A webhook that could not be processed may be sent again with the same ID."""
    await session.execute(
        delete(ProviderWebhookMessage).where(
            ProviderWebhookMessage.provider_id == provider_id,
            ProviderWebhookMessage.message_id == message_id,
        )
    )


async def close_account(
    session: AsyncSession, provider_id: str, payment_service_id: str, account_id: str, now: datetime
) -> int:
    """`account.closed`: the registrations of that account at this provider's service become
    invalid; returns how many changed."""
    services = select(PaymentService.id).where(
        PaymentService.id == payment_service_id, PaymentService.provider_id == provider_id
    )
    result = await session.execute(
        update(PaymentServiceRegistration)
        .where(
            PaymentServiceRegistration.payment_service_id.in_(services),
            PaymentServiceRegistration.account_id == account_id,
            PaymentServiceRegistration.status == "active",
        )
        .values(status="invalid", invalidated_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def pending_credit_requests(
    session: AsyncSession,
    provider_id: str,
    *,
    include_crediting: bool,
    limit: int,
    offset: int = 0,
) -> list[Receipt]:
    """Receipts waiting for this provider's answer, oldest first, without an acknowledgement."""
    states = [ReceiptState.ACCEPTED.value]
    if include_crediting:
        states.append(ReceiptState.CREDITING.value)
    acknowledged = select(ProviderAcknowledgement.receipt_id).where(
        ProviderAcknowledgement.receipt_id == Receipt.id
    )
    rows = await session.execute(
        select(Receipt)
        .where(
            Receipt.provider_id == provider_id, Receipt.state.in_(states), ~acknowledged.exists()
        )
        .order_by(Receipt.created_at, Receipt.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows.scalars())


async def count_pulls(session: AsyncSession, receipt_ids: Sequence[str]) -> set[str]:
    """A pull provider fetched these requests: count it on each one still awaiting an answer,
    in the transaction of the listing; returns those (a receipt returned meanwhile is not
    handed out: the return withdrew it from the queue)."""
    counted: set[str] = set()
    awaiting = [ReceiptState.ACCEPTED.value, ReceiptState.CREDITING.value]
    for part in chunks(receipt_ids):
        rows = await session.execute(
            update(Receipt)
            .where(one_of(session, Receipt.id, part), Receipt.state.in_(awaiting))
            .values(pulls=Receipt.pulls + 1)
            .returning(Receipt.id)
            .execution_options(synchronize_session=False)
        )
        counted.update(rows.scalars())
    return counted
