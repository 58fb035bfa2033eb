"""Receipt requests, credit attempts and their outcomes, with the grant moves they cause."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import RuleViolation
from domain.measures import check_destination
from domain.points import GrantState
from domain.receipts import TERMINAL_RECEIPT_STATES, ReceiptPlan, ReceiptState, receipt_id_for
from storage.catalog import load_terms, profile_of, provider_for_service
from storage.ledger import move_grant
from storage.models import (
    Application,
    Grant,
    Measure,
    PaymentServiceRegistration,
    Receipt,
    ReceiptEvent,
)


async def active_registration(
    session: AsyncSession, mykey_id: str, registration_id: str
) -> PaymentServiceRegistration:
    registration = await session.get(PaymentServiceRegistration, registration_id)
    if registration is None or registration.mykey_id != mykey_id:
        raise RuleViolation("not_found", "no such payment service registration", status=404)
    if registration.status != "active":
        raise RuleViolation(
            "registration_invalid",
            "this payment service registration is no longer valid",
            status=422,
        )
    return registration


async def check_receipt_request(
    session: AsyncSession,
    *,
    mykey_id: str,
    grant_ids: Sequence[str],
    registration_id: str,
    now: datetime,
) -> tuple[PaymentServiceRegistration, list[Grant]]:
    """Every rule of a receipt request (SPEC §3, §5), read-only; raises the first refusal."""
    if not grant_ids:
        raise RuleViolation("validation_error", "grant_ids must not be empty", status=422)
    if len(set(grant_ids)) != len(grant_ids):
        raise RuleViolation("validation_error", "grant_ids lists a grant twice", status=422)
    registration = await active_registration(session, mykey_id, registration_id)
    grants = list((await session.execute(select(Grant).where(Grant.id.in_(grant_ids)))).scalars())
    by_id = {g.id: g for g in grants}
    ordered: list[Grant] = []
    for grant_id in grant_ids:
        grant = by_id.get(grant_id)
        if grant is None or grant.mykey_id != mykey_id:
            raise RuleViolation("not_found", f"no such grant: {grant_id}", status=404)
        if grant.state != GrantState.UNRECEIVED.value:
            raise RuleViolation(
                "grant_not_unreceived", f"grant {grant_id} is {grant.state}", status=409
            )
        measure = await session.get(Measure, grant.measure_id)
        assert measure is not None
        if now >= measure.receipt_deadline:
            raise RuleViolation(
                "receipt_deadline_passed", "the measure's receipt deadline has passed", status=409
            )
        application = await session.get(Application, grant.application_id)
        assert application is not None
        if (
            application.fixed_registration_id is not None
            and application.fixed_registration_id != registration_id
            and await _still_active(session, application.fixed_registration_id)
        ):
            raise RuleViolation(
                "destination_fixed",
                "the receiving payment service was fixed at application and cannot change",
                status=409,
            )
        check_destination(await load_terms(session, measure), registration.payment_service_id, now)
        ordered.append(grant)
    return registration, ordered


async def request_receipts(
    session: AsyncSession,
    *,
    mykey_id: str,
    grant_ids: Sequence[str],
    registration_id: str,
    workflow_id: str,
    now: datetime,
    actor: str,
) -> list[ReceiptPlan]:
    """Claim the grants and write one receipt for each; the destination is fixed from here on."""
    registration, grants = await check_receipt_request(
        session, mykey_id=mykey_id, grant_ids=grant_ids, registration_id=registration_id, now=now
    )
    provider = await provider_for_service(session, registration.payment_service_id)
    profile = profile_of(provider)
    plans = []
    for grant in grants:
        measure = await session.get(Measure, grant.measure_id)
        assert measure is not None
        receipt_id = receipt_id_for(grant.id, grant.receipt_count + 1)
        if not await move_grant(
            session,
            grant,
            GrantState.RECEIPT_REQUESTED,
            actor=actor,
            now=now,
            receipt_id=receipt_id,
            expected=GrantState.UNRECEIVED,
        ):
            raise RuleViolation("grant_not_unreceived", f"grant {grant.id} changed", status=409)
        await session.execute(
            update(Grant).where(Grant.id == grant.id).values(receipt_count=Grant.receipt_count + 1)
        )
        session.add(
            Receipt(
                id=receipt_id,
                grant_id=grant.id,
                measure_id=grant.measure_id,
                municipality_code=measure.municipality_code,
                mykey_id=mykey_id,
                registration_id=registration.id,
                payment_service_id=registration.payment_service_id,
                provider_id=provider.id,
                account_id=registration.account_id,
                points=grant.points,
                state=ReceiptState.REQUESTED.value,
                attempts=0,
                stuck=False,
                workflow_id=workflow_id,
                created_at=now,
                updated_at=now,
            )
        )
        session.add(_event(receipt_id, ReceiptState.REQUESTED.value, actor, now, None))
        plans.append(
            ReceiptPlan(
                receipt_id=receipt_id,
                grant_id=grant.id,
                provider_id=provider.id,
                points=grant.points,
                policy=profile.policy,
            )
        )
    await session.flush()
    return plans


async def _still_active(session: AsyncSession, registration_id: str) -> bool:
    """A destination fixed at application binds only while the provider still accepts it (FAQ)."""
    registration = await session.get(PaymentServiceRegistration, registration_id)
    return registration is not None and registration.status == "active"


def _event(
    receipt_id: str, state: str, actor: str, now: datetime, detail: str | None
) -> ReceiptEvent:
    return ReceiptEvent(receipt_id=receipt_id, at=now, state=state, actor=actor, detail=detail)


async def get_receipt(session: AsyncSession, receipt_id: str) -> Receipt:
    receipt = await session.get(Receipt, receipt_id)
    if receipt is None:
        raise RuleViolation("not_found", f"no such receipt: {receipt_id}", status=404)
    return receipt


async def begin_credit(
    session: AsyncSession, receipt_id: str, *, attempt: int, now: datetime, actor: str
) -> Receipt:
    """Record an attempt; the first moves the receipt and its grant to `crediting`."""
    receipt = await get_receipt(session, receipt_id)
    if receipt.state in {s.value for s in TERMINAL_RECEIPT_STATES}:
        return receipt
    receipt.attempts = max(receipt.attempts, attempt)
    receipt.updated_at = now
    if receipt.state == ReceiptState.REQUESTED.value:
        receipt.state = ReceiptState.CREDITING.value
        session.add(_event(receipt_id, receipt.state, actor, now, None))
        grant = await session.get(Grant, receipt.grant_id)
        assert grant is not None
        await move_grant(
            session,
            grant,
            GrantState.CREDITING,
            actor=actor,
            now=now,
            receipt_id=receipt_id,
            expected=GrantState.RECEIPT_REQUESTED,
        )
    return receipt


async def note_failure(
    session: AsyncSession, receipt_id: str, *, attempt: int, error: str, now: datetime
) -> None:
    await session.execute(
        update(Receipt)
        .where(Receipt.id == receipt_id)
        .values(attempts=attempt, last_error=error[:2000], updated_at=now)
    )


async def finish_credit(
    session: AsyncSession,
    receipt_id: str,
    *,
    status: str,
    provider_reference: str | None,
    reason: str | None,
    now: datetime,
    actor: str,
) -> str:
    """Apply a provider's answer. A terminal receipt never changes: the first answer wins.

    Returns the receipt's state afterwards.
    """
    receipt = await get_receipt(session, receipt_id)
    terminal = {s.value for s in TERMINAL_RECEIPT_STATES}
    if receipt.state in terminal:
        return receipt.state
    grant = await session.get(Grant, receipt.grant_id)
    assert grant is not None
    if status == "accepted":
        if receipt.state != ReceiptState.ACCEPTED.value:
            receipt.state = ReceiptState.ACCEPTED.value
            receipt.updated_at = now
            session.add(_event(receipt_id, receipt.state, actor, now, None))
        return receipt.state
    if grant.state == GrantState.RECEIPT_REQUESTED.value:
        # The answer came before the attempt was recorded (a crash in between): catch up.
        await move_grant(
            session, grant, GrantState.CREDITING, actor=actor, now=now, receipt_id=receipt_id
        )
    if status == "credited":
        receipt.state = ReceiptState.CREDITED.value
        receipt.provider_reference = provider_reference
        await move_grant(
            session, grant, GrantState.CREDITED, actor=actor, now=now, receipt_id=receipt_id
        )
    elif status == "rejected":
        receipt.state = ReceiptState.REJECTED.value
        receipt.last_error = reason
        await move_grant(
            session, grant, GrantState.UNRECEIVED, actor=actor, now=now, receipt_id=receipt_id
        )
        await session.execute(
            update(PaymentServiceRegistration)
            .where(PaymentServiceRegistration.id == receipt.registration_id)
            .values(status="invalid", invalidated_at=now)
        )
    else:
        raise ValueError(f"unknown credit outcome {status!r}")
    receipt.stuck = False
    receipt.stuck_reason = None
    receipt.updated_at = now
    receipt.finished_at = now
    session.add(_event(receipt_id, receipt.state, actor, now, reason))
    return receipt.state
