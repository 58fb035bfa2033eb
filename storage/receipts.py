"""Receipt requests, credit attempts and their outcomes, with the grant moves they cause."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from domain.errors import RuleViolation
from domain.measures import check_destination
from domain.points import GrantState
from domain.provider_errors import rejection
from domain.receipts import TERMINAL_RECEIPT_STATES, ReceiptPlan, ReceiptState, receipt_id_for
from storage import batches
from storage.catalog import load_terms, profile_of
from storage.ledger import move_grant, move_grant_id, written
from storage.models import (
    Application,
    Grant,
    Measure,
    MyKey,
    PaymentProvider,
    PaymentService,
    PaymentServiceRegistration,
    Receipt,
    ReceiptEvent,
)
from storage.models.provider_status import ProviderStatus


async def active_registration(
    session: AsyncSession, mykey_id: str, registration_id: str
) -> PaymentServiceRegistration:
    return _usable(await session.get(PaymentServiceRegistration, registration_id), mykey_id)


def _usable(
    registration: PaymentServiceRegistration | None, mykey_id: str
) -> PaymentServiceRegistration:
    """The resident's own registration, still active; refused otherwise."""
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
) -> CheckedRequest:
    """Every rule of a receipt request (SPEC §3, §5), read-only; raises the first refusal."""
    _well_formed(grant_ids)
    registration, provider = await _registration_and_provider(session, mykey_id, registration_id)
    rows = await _checked(
        session,
        await _grant_rows(session, grant_ids),
        mykey_id=mykey_id,
        grant_ids=grant_ids,
        registration=registration,
        now=now,
    )
    return CheckedRequest(registration, provider, rows)


@dataclass(frozen=True)
class GrantRow:
    """A grant with what a receipt request checks and writes, read in one query."""

    grant: Grant
    measure: Measure
    application: Application
    receipt: Receipt | None  # the grant's current receipt, if it has one


class ClaimRace(RuleViolation):
    """A grant claimed by someone else between its check and its claim (a twin request)."""

    def __init__(self, grant_id: str, workflow_id: str) -> None:
        super().__init__("grant_not_unreceived", f"grant {grant_id} changed", status=409)
        self.workflow_id = workflow_id


@dataclass(frozen=True)
class CheckedRequest:
    """A receipt request that passed every rule: the destination and the grants, as read."""

    registration: PaymentServiceRegistration
    provider: PaymentProvider | None
    rows: list[GrantRow]


async def _grant_rows(session: AsyncSession, grant_ids: Sequence[str]) -> dict[str, GrantRow]:
    rows = await session.execute(
        select(Grant, Measure, Application, Receipt)
        .join(Measure, Measure.id == Grant.measure_id)
        .join(Application, Application.id == Grant.application_id)
        .outerjoin(Receipt, Receipt.id == Grant.current_receipt_id)
        .where(Grant.id.in_(grant_ids))
    )
    return {grant.id: GrantRow(grant, m, a, r) for grant, m, a, r in rows}


async def _registration_and_provider(
    session: AsyncSession, mykey_id: str, registration_id: str
) -> tuple[PaymentServiceRegistration, PaymentProvider | None]:
    """`active_registration` and the provider behind its payment service, in one query."""
    found = (
        await session.execute(
            select(PaymentServiceRegistration, PaymentProvider)
            .outerjoin(
                PaymentService,
                PaymentService.id == PaymentServiceRegistration.payment_service_id,
            )
            .outerjoin(PaymentProvider, PaymentProvider.id == PaymentService.provider_id)
            .where(PaymentServiceRegistration.id == registration_id)
        )
    ).first()
    registration, provider = found if found is not None else (None, None)
    return _usable(registration, mykey_id), provider


def _well_formed(grant_ids: Sequence[str]) -> None:
    if not grant_ids:
        raise RuleViolation("validation_error", "grant_ids must not be empty", status=422)
    if len(set(grant_ids)) != len(grant_ids):
        raise RuleViolation("validation_error", "grant_ids lists a grant twice", status=422)


async def _checked(
    session: AsyncSession,
    by_id: dict[str, GrantRow],
    *,
    mykey_id: str,
    grant_ids: Sequence[str],
    registration: PaymentServiceRegistration,
    now: datetime,
) -> list[GrantRow]:
    """The rules of `check_receipt_request` for each grant, over grants already read
    (`_grant_rows`)."""
    ordered: list[GrantRow] = []
    for grant_id in grant_ids:
        row = by_id.get(grant_id)
        if row is None or row.grant.mykey_id != mykey_id:
            raise RuleViolation("not_found", f"no such grant: {grant_id}", status=404)
        grant, measure, application = row.grant, row.measure, row.application
        if grant.state != GrantState.UNRECEIVED.value:
            raise RuleViolation(
                "grant_not_unreceived", f"grant {grant_id} is {grant.state}", status=409
            )
        if now >= measure.receipt_deadline:
            raise RuleViolation(
                "receipt_deadline_passed", "the measure's receipt deadline has passed", status=409
            )
        if (
            application.fixed_registration_id is not None
            and application.fixed_registration_id != registration.id
            and await _still_active(session, application.fixed_registration_id)
        ):
            raise RuleViolation(
                "destination_fixed",
                "the receiving payment service was fixed at application and cannot change",
                status=409,
            )
        check_destination(await load_terms(session, measure), registration.payment_service_id, now)
        ordered.append(row)
    return ordered


async def request_receipts(
    session: AsyncSession,
    *,
    mykey_id: str,
    grant_ids: Sequence[str],
    registration_id: str,
    workflow_id: str,
    now: datetime,
    actor: str,
    queue_batch: bool = False,
) -> list[ReceiptPlan]:
    """Claim the grants and write one receipt for each; the destination is fixed from here on.

    With `queue_batch`, a `batch_file` provider's receipts go on its queue in the same
    transaction (`_queue`): the credit call of such a provider only queues, so it needs no
    activity of its own.

    Idempotent: when this workflow already claimed exactly these grants for this registration
    (the step committed, then the worker died before the workflow saw the result), the same
    receipts are returned instead of a refusal.

    The grants, their measures, applications and current receipts are read in one query, the
    registration and its provider in another; each grant's claim is one conditional `UPDATE`.
    """
    by_id = await _grant_rows(session, grant_ids)
    already = await _claimed_by(session, by_id, grant_ids, registration_id, workflow_id)
    if already is not None:
        return already
    _well_formed(grant_ids)
    registration, provider = await _registration_and_provider(session, mykey_id, registration_id)
    rows = await _checked(
        session, by_id, mykey_id=mykey_id, grant_ids=grant_ids, registration=registration, now=now
    )
    return await claim_checked(
        session,
        CheckedRequest(registration, provider, rows),
        mykey_id=mykey_id,
        workflow_id=workflow_id,
        now=now,
        actor=actor,
        queue_batch=queue_batch,
    )


async def claim_checked(
    session: AsyncSession,
    checked: CheckedRequest,
    *,
    mykey_id: str,
    workflow_id: str,
    now: datetime,
    actor: str,
    queue_batch: bool = False,
) -> list[ReceiptPlan]:
    """Claim the grants of a request that passed every rule (`check_receipt_request`, in the
    same transaction) and write their receipts: one conditional `UPDATE` per grant; a grant
    that moved since it was read refuses the whole request (`grant_not_unreceived`)."""
    registration, provider, rows = checked.registration, checked.provider, checked.rows
    if provider is None:
        raise RuleViolation("unknown_payment_service", "no such payment service", status=422)
    profile = profile_of(provider)
    queued = queue_batch and profile.adapter == "batch_file"
    plans = []
    for row in rows:
        grant, measure = row.grant, row.measure
        receipt_id = receipt_id_for(grant.id, grant.receipt_count + 1)
        if not await move_grant(
            session,
            grant,
            GrantState.RECEIPT_REQUESTED,
            actor=actor,
            now=now,
            receipt_id=receipt_id,
            expected=GrantState.UNRECEIVED,
            receipt_count=Grant.receipt_count + 1,
        ):
            raise ClaimRace(grant.id, workflow_id)
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
                # A queued receipt is written as its first attempt leaves it (`_queue`).
                state=(ReceiptState.ACCEPTED if queued else ReceiptState.REQUESTED).value,
                attempts=1 if queued else 0,
                stuck=False,
                workflow_id=workflow_id,
                created_at=now,
                updated_at=now,
            )
        )
        session.add(_event(receipt_id, ReceiptState.REQUESTED.value, actor, now, None))
        if queued:
            await _queue(session, grant, receipt_id, provider.id, now=now)
        plans.append(
            ReceiptPlan(
                receipt_id=receipt_id,
                grant_id=grant.id,
                provider_id=provider.id,
                points=grant.points,
                policy=profile.policy,
                queued=queued,
            )
        )
    await session.flush()
    return plans


async def _queue(
    session: AsyncSession, grant: Grant, receipt_id: str, provider_id: str, *, now: datetime
) -> None:
    """What the first credit attempt of a `batch_file` receipt records, done at its claim: its
    grant moves to crediting, the receipt goes on the provider's queue, and its timeline shows
    the attempt and the acceptance (its answer comes in a result file)."""
    actor = f"provider-worker:{provider_id}"
    await move_grant(
        session,
        grant,
        GrantState.CREDITING,
        actor=actor,
        now=now,
        receipt_id=receipt_id,
        expected=GrantState.RECEIPT_REQUESTED,
    )
    session.add(_event(receipt_id, ReceiptState.CREDITING.value, actor, now, None))
    session.add(_event(receipt_id, ReceiptState.ACCEPTED.value, actor, now, "queued"))
    await batches.enqueue(session, receipt_id=receipt_id, provider_id=provider_id, now=now)


async def claimed_by(
    session: AsyncSession,
    grant_ids: Sequence[str],
    registration_id: str,
    workflow_id: str,
) -> list[ReceiptPlan] | None:
    """The plans of a committed claim of exactly these grants for this registration by this
    workflow's application, if there is one: what a request that lost the race to its twin
    answers."""
    by_id = await _grant_rows(session, grant_ids)
    return await _claimed_by(session, by_id, grant_ids, registration_id, workflow_id)


async def _claimed_by(
    session: AsyncSession,
    by_id: dict[str, GrantRow],
    grant_ids: Sequence[str],
    registration_id: str,
    workflow_id: str,
) -> list[ReceiptPlan] | None:
    """The plans of an earlier, committed run of the same claim, if that is what this is."""
    plans = []
    for grant_id in grant_ids:
        row = by_id.get(grant_id)
        if (
            row is None
            or row.grant.state == GrantState.UNRECEIVED.value
            or row.grant.current_receipt_id is None
        ):
            return None
        receipt = row.receipt
        if (
            receipt is None
            or receipt.workflow_id != workflow_id
            or receipt.registration_id != registration_id
        ):
            return None
        queued = receipt.state != ReceiptState.REQUESTED.value
        if queued and not await batches.is_queued(session, receipt.id):
            return None
        provider = await session.get(PaymentProvider, receipt.provider_id)
        assert provider is not None
        plans.append(
            ReceiptPlan(
                receipt_id=receipt.id,
                grant_id=grant_id,
                provider_id=receipt.provider_id,
                points=receipt.points,
                policy=profile_of(provider).policy,
                queued=queued,
            )
        )
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


async def _move_receipt(
    session: AsyncSession,
    receipt: Receipt,
    to_state: ReceiptState,
    *,
    expected: set[ReceiptState],
    now: datetime,
    actor: str,
    detail: str | None = None,
    pulls: int | None = None,
    **values: object,
) -> bool:
    """Move a receipt only from one of the `expected` states (and, given `pulls`, only while
    its pull count is that): the first writer wins a race."""
    unpulled = [] if pulls is None else [Receipt.pulls == pulls]
    result = await session.execute(
        update(Receipt)
        .where(Receipt.id == receipt.id, Receipt.state.in_([s.value for s in expected]), *unpulled)
        .values(state=to_state.value, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.refresh(receipt)
        return False
    written(receipt, {"state": to_state.value, "updated_at": now, **values})
    session.add(_event(receipt.id, to_state.value, actor, now, detail))
    return True


OPEN_RECEIPT_STATES = {ReceiptState.REQUESTED, ReceiptState.CREDITING, ReceiptState.ACCEPTED}


async def begin_credit(
    session: AsyncSession,
    receipt_id: str,
    *,
    attempt: int,
    now: datetime,
    actor: str,
    receipt: Receipt | None = None,
) -> Receipt:
    """Record an attempt; the first moves the receipt and its grant to `crediting`.

    A receipt that is already final (forfeited by a revocation, say) is returned unchanged, and
    the caller must not call the provider. `receipt`: the receipt as this transaction read it
    (`credit_standing`), so that it is not read again.
    """
    receipt = receipt or await get_receipt(session, receipt_id)
    if await _move_receipt(
        session,
        receipt,
        ReceiptState.CREDITING,
        expected={ReceiptState.REQUESTED},
        now=now,
        actor=actor,
        attempts=attempt,
    ):
        await move_grant_id(
            session,
            receipt.grant_id,
            GrantState.RECEIPT_REQUESTED,
            GrantState.CREDITING,
            actor=actor,
            now=now,
            receipt_id=receipt_id,
        )
    elif receipt.state not in {s.value for s in TERMINAL_RECEIPT_STATES}:
        await session.execute(
            update(Receipt)
            .where(Receipt.id == receipt_id, Receipt.attempts < attempt)
            .values(attempts=attempt, updated_at=now)
        )
    return receipt


async def credit_standing(
    session: AsyncSession, receipt_id: str, provider_id: str
) -> tuple[Receipt | None, ProviderStatus | None]:
    """The receipt and its provider's pause book row (`storage.provider_status`), in one query,
    before a credit call: (None, None) when there is no such receipt."""
    found = (
        await session.execute(
            select(Receipt, ProviderStatus)
            .outerjoin(ProviderStatus, ProviderStatus.provider_id == provider_id)
            .where(Receipt.id == receipt_id)
            .execution_options(populate_existing=True)
        )
    ).first()
    return (None, None) if found is None else (found[0], found[1])


async def note_failure(
    session: AsyncSession,
    receipt_id: str,
    *,
    attempt: int,
    error: str,
    now: datetime,
    code: str | None = None,
) -> None:
    """Keep the last failure: its stable `code` (domain.provider_errors) and its raw detail."""
    await session.execute(
        update(Receipt)
        .where(Receipt.id == receipt_id)
        .values(attempts=attempt, last_error=error[:2000], last_error_code=code, updated_at=now)
    )


async def _mykey_revoked(session: AsyncSession, mykey_id: str) -> bool:
    mykey = await session.get(MyKey, mykey_id)
    return mykey is not None and mykey.status == "revoked"


async def finish_credit(
    session: AsyncSession,
    receipt_id: str,
    *,
    status: str,
    provider_reference: str | None,
    reason: str | None,
    now: datetime,
    actor: str,
) -> tuple[str, str]:
    """Apply a provider's answer. A final receipt never changes: the first answer wins.

    Returns the receipt's state and its grant's state afterwards. A final answer for an open
    receipt whose grant is `crediting` (the usual case) takes no read: the receipt's and the
    grant's moves are each one conditional `UPDATE … RETURNING`.
    """
    if status == "accepted":
        accepted = await _move_receipt_row(
            session,
            receipt_id,
            {ReceiptState.REQUESTED, ReceiptState.CREDITING},
            {"state": ReceiptState.ACCEPTED.value, "updated_at": now},
        )
        if accepted is None:
            return await _states_now(session, receipt_id)
        session.add(_event(receipt_id, ReceiptState.ACCEPTED.value, actor, now, None))
        return ReceiptState.ACCEPTED.value, await _grant_state(session, accepted[0])
    targets = {"credited": ReceiptState.CREDITED, "rejected": ReceiptState.REJECTED}
    if status not in targets:
        await get_receipt(session, receipt_id)
        raise ValueError(f"unknown credit outcome {status!r}")
    values: dict[str, object] = {
        "state": targets[status].value,
        "updated_at": now,
        "provider_reference": provider_reference,
        "stuck": False,
        "stuck_reason": None,
        "stuck_since": None,
        "finished_at": now,
    }
    if status == "rejected":
        values.update(last_error=reason, last_error_code=rejection(reason).code)
    moved = await _move_receipt_row(session, receipt_id, OPEN_RECEIPT_STATES, values)
    if moved is None:
        return await _states_now(session, receipt_id)
    grant_id, mykey_id, registration_id = moved
    session.add(_event(receipt_id, targets[status].value, actor, now, reason))
    grant_to = GrantState.CREDITED
    if status == "rejected":
        # Rejected: the points show again as unreceived (FAQ), unless the MyKey ID was revoked
        # meanwhile, in which case they are forfeited like every other point not yet credited.
        revoked = await _mykey_revoked(session, mykey_id)
        grant_to = GrantState.FORFEITED if revoked else GrantState.UNRECEIVED
        await session.execute(
            update(PaymentServiceRegistration)
            .where(PaymentServiceRegistration.id == registration_id)
            .values(status="invalid", invalidated_at=now)
        )
    if await move_grant_id(
        session,
        grant_id,
        GrantState.CREDITING,
        grant_to,
        actor=actor,
        now=now,
        receipt_id=receipt_id,
    ):
        return targets[status].value, grant_to.value
    grant = await session.get(Grant, grant_id, populate_existing=True)
    assert grant is not None
    if grant.state == GrantState.RECEIPT_REQUESTED.value:
        # The answer came before the attempt was recorded (a crash in between): catch up.
        await move_grant(
            session, grant, GrantState.CREDITING, actor=actor, now=now, receipt_id=receipt_id
        )
    await move_grant(session, grant, grant_to, actor=actor, now=now, receipt_id=receipt_id)
    return targets[status].value, grant.state


async def _move_receipt_row(
    session: AsyncSession,
    receipt_id: str,
    expected: set[ReceiptState],
    values: dict[str, object],
) -> tuple[str, str, str] | None:
    """`_move_receipt` for a receipt not read: one conditional `UPDATE … RETURNING` (grant ID,
    MyKey ID, registration ID); None when the receipt is not in an `expected` state. The caller
    adds the timeline event."""
    moved = (
        await session.execute(
            update(Receipt)
            .where(Receipt.id == receipt_id, Receipt.state.in_([s.value for s in expected]))
            .values(**values)
            .returning(Receipt.grant_id, Receipt.mykey_id, Receipt.registration_id)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if moved is None:
        return None
    loaded = session.identity_map.get(identity_key(Receipt, receipt_id))
    if loaded is not None:  # a receipt this session holds shows its new state
        written(loaded, values)
    return moved[0], moved[1], moved[2]


async def _states_now(session: AsyncSession, receipt_id: str) -> tuple[str, str]:
    """A receipt's state and its grant's, read afresh (the receipt did not move)."""
    receipt = await session.get(Receipt, receipt_id, populate_existing=True)
    if receipt is None:
        raise RuleViolation("not_found", f"no such receipt: {receipt_id}", status=404)
    return receipt.state, await _grant_state(session, receipt.grant_id)


async def _grant_state(session: AsyncSession, grant_id: str) -> str:
    """The grant's state as the database has it now (a loaded grant is refreshed)."""
    grant = await session.get(Grant, grant_id, populate_existing=True)
    assert grant is not None
    return grant.state


async def forfeit_open_grants(
    session: AsyncSession,
    *,
    mykey_id: str,
    now: datetime,
    actor: str,
    application_id: str | None = None,
) -> list[str]:
    """Revocation: every grant not yet with a provider is forfeited, with its ledger line.

    Grants whose credit is already with the provider (`crediting`) are left to the provider's
    answer: credited stays credited; a rejection then forfeits them (`finish_credit`).
    """
    query = select(Grant).where(
        Grant.mykey_id == mykey_id,
        Grant.state.in_([GrantState.UNRECEIVED.value, GrantState.RECEIPT_REQUESTED.value]),
    )
    if application_id is not None:
        query = query.where(Grant.application_id == application_id)
    forfeited = []
    for grant in list((await session.execute(query)).scalars()):
        if grant.state == GrantState.RECEIPT_REQUESTED.value and grant.current_receipt_id:
            receipt = await get_receipt(session, grant.current_receipt_id)
            if not await _move_receipt(
                session,
                receipt,
                ReceiptState.FORFEITED,
                expected={ReceiptState.REQUESTED},
                now=now,
                actor=actor,
                finished_at=now,
            ):
                continue  # the credit attempt started first: the provider decides
        if await move_grant(session, grant, GrantState.FORFEITED, actor=actor, now=now):
            forfeited.append(grant.id)
    return forfeited


async def mark_stuck(
    session: AsyncSession,
    receipt_id: str,
    *,
    reason: str,
    detail: str | None,
    now: datetime,
    actor: str,
    code: str | None = None,
) -> bool:
    """Flag an open receipt for support staff; the first reason and its time are kept, with the
    stable code of the provider failure behind it (`code`, when there is one)."""
    receipt = await get_receipt(session, receipt_id)
    if receipt.state in {s.value for s in TERMINAL_RECEIPT_STATES} or receipt.stuck:
        return False
    receipt.stuck = True
    receipt.stuck_reason = reason
    receipt.stuck_since = now
    receipt.updated_at = now
    if detail:
        receipt.last_error = detail[:2000]
    if code:
        receipt.last_error_code = code
    cause = f"{reason} ({code})" if code else reason
    session.add(_event(receipt_id, "stuck", actor, now, f"{cause}: {detail}" if detail else cause))
    return True


async def return_to_unreceived(
    session: AsyncSession,
    receipt_id: str,
    *,
    now: datetime,
    actor: str,
    note: str | None,
    pulls: int | None = None,
) -> tuple[str, str]:
    """Support returns the points after the provider said it did not credit them (SPEC §3).

    With `pulls` (the pull count read before the provider's answer) the receipt moves only if
    no pull came since: returned, it leaves the pull queue in the same statement, and a pull
    provider that fetched it after its answer is asked again instead."""
    receipt = await get_receipt(session, receipt_id)
    moved = await _move_receipt(
        session,
        receipt,
        ReceiptState.RETURNED,
        expected=OPEN_RECEIPT_STATES,
        now=now,
        actor=actor,
        detail=note,
        pulls=pulls,
        stuck=False,
        stuck_reason=None,
        stuck_since=None,
        finished_at=now,
    )
    if not moved and receipt.state in {s.value for s in OPEN_RECEIPT_STATES}:
        raise RuleViolation(
            "provider_not_confirmed_uncredited",
            "the provider fetched this credit request after it answered not_found; ask again",
            status=409,
        )
    grant = await session.get(Grant, receipt.grant_id)
    assert grant is not None
    if moved:
        back_to = (
            GrantState.FORFEITED
            if await _mykey_revoked(session, receipt.mykey_id)
            else GrantState.UNRECEIVED
        )
        await move_grant(session, grant, back_to, actor=actor, now=now, receipt_id=receipt_id)
    return receipt.state, grant.state


@dataclass(frozen=True)
class OpenReceipt:
    """A receipt still waiting for its provider, as a new workflow run takes it up."""

    plan: ReceiptPlan
    state: str
    stuck_reason: str | None


async def open_receipts(session: AsyncSession, application_id: str) -> list[OpenReceipt]:
    """The application's receipts that no final answer has reached yet (each grant's current
    one): what a run that starts after its workflow ended carries on (issue 17)."""
    rows = await session.execute(
        select(Receipt)
        .join(Grant, Grant.current_receipt_id == Receipt.id)
        .where(
            Grant.application_id == application_id,
            Receipt.state.in_([s.value for s in OPEN_RECEIPT_STATES]),
        )
        .order_by(Receipt.id)
    )
    found = []
    for receipt in rows.scalars():
        provider = await session.get(PaymentProvider, receipt.provider_id)
        assert provider is not None
        plan = ReceiptPlan(
            receipt_id=receipt.id,
            grant_id=receipt.grant_id,
            provider_id=receipt.provider_id,
            points=receipt.points,
            policy=profile_of(provider).policy,
            queued=await batches.is_queued(session, receipt.id),
        )
        found.append(OpenReceipt(plan, receipt.state, receipt.stuck_reason))
    return found


@dataclass(frozen=True)
class Contradiction:
    """What became of a rejected receipt whose provider then says it credited it."""

    outcome: str  # credited | already_credited | double_credit | not_rejected
    receipt_state: str
    grant_state: str
    grant_receipt_id: str | None  # the grant's current receipt (another one: a second receipt)
    workflow_id: str


DOUBLE_CREDIT = "provider_double_credit"  # in domain.provider_errors.CODES


async def credit_contradicted_rejection(
    session: AsyncSession,
    receipt_id: str,
    *,
    provider_reference: str | None,
    now: datetime,
    actor: str,
) -> Contradiction:
    """A receipt recorded `rejected` that its provider's own status says it credited (F5 in
    docs/reliability.md: a provider that sent both answers, the rejection reaching the hub first).

    While the grant is still the unreceived one this receipt left behind, the receipt becomes
    `credited` and the grant goes the way a credit takes it (requested, crediting, credited: a
    ledger line each), exactly once: the moves are conditional. When the grant moved on (a
    second receipt was requested for it, or it expired or was forfeited) the hub cannot credit
    it again: the provider has credited it twice or credited points the hub gave up, which is
    for support and reconciliation (`double_credit`): the receipt stays `rejected`, flagged with
    `last_error_code` `provider_double_credit` and a line on its timeline."""
    receipt = await get_receipt(session, receipt_id)
    grant = await session.get(Grant, receipt.grant_id, with_for_update=True)
    assert grant is not None
    # Read again under the grant's lock: a concurrent settlement of the same answer, which took
    # the lock first, may have credited the receipt since the first read.
    await session.refresh(receipt)

    def seen(outcome: str) -> Contradiction:
        return Contradiction(
            outcome, receipt.state, grant.state, grant.current_receipt_id, receipt.workflow_id
        )

    if receipt.state == ReceiptState.CREDITED.value:
        return seen("already_credited")
    if receipt.state != ReceiptState.REJECTED.value:
        return seen("not_rejected")
    if grant.state != GrantState.UNRECEIVED.value or grant.current_receipt_id != receipt_id:
        message = (
            "the provider credited this receipt after rejecting it, and its grant has moved on "
            f"({grant.state}, receipt {grant.current_receipt_id}): for support and reconciliation"
        )
        receipt.last_error_code, receipt.last_error = DOUBLE_CREDIT, message
        session.add(_event(receipt_id, receipt.state, actor, now, message))
        return seen("double_credit")
    moved = await _move_receipt(
        session,
        receipt,
        ReceiptState.CREDITED,
        expected={ReceiptState.REJECTED},
        now=now,
        actor=actor,
        detail="the provider's status says credited after its rejection",
        provider_reference=provider_reference,
        last_error=None,
        last_error_code=None,
        finished_at=now,
    )
    if not moved:  # settled by a concurrent answer
        return seen("already_credited")
    for step in (GrantState.RECEIPT_REQUESTED, GrantState.CREDITING, GrantState.CREDITED):
        if not await move_grant(session, grant, step, actor=actor, now=now, receipt_id=receipt_id):
            raise RuntimeError(f"grant {grant.id} did not move to {step.value} under its lock")
    return seen("credited")
