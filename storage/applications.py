"""Applications and their grants: eligibility, budget and cap, decided in one transaction.

The budget is taken last: everything the decision writes (the application, the grant, its ledger
line, the caller's audit entry) is flushed first, and the budget is the transaction's last step
(`storage/grants.take_budget_last`): on PostgreSQL a claim whose deferred trigger takes the
points inside the commit, on SQLite the conditional `UPDATE` of the measure's `budget_used` just
before it. That condition is the only arbiter of first come, first served (SPEC §2) and the only
lock on the measure's row, held for the server's commit (PostgreSQL), never across a round trip
of a busy event loop: under an opening rush every grant waits on that row, and a lock held
across several round trips let only ten or so grants through a second.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import and_, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications import ApplicationDecision, ApplicationStatus, GrantView, grant_id_for
from domain.errors import RuleViolation
from domain.measures import (
    ApplicantStanding,
    MeasureKind,
    MeasureState,
    check_application,
    check_destination,
)
from domain.points import GrantState
from domain.reviews import ReviewKind, ReviewPolicy, ReviewStatus
from storage.catalog import load_terms, terms_of
from storage.grants import check_cap, take_budget_last, write_grant
from storage.ledger import move_grant
from storage.models import (
    Application,
    Grant,
    Measure,
    MeasureTarget,
    PaymentServiceRegistration,
)
from storage.models.reviews import Review
from storage.reviews import open_review, plan_of


async def _published_measure(session: AsyncSession, measure_id: str) -> Measure:
    """The measure as last committed, unlocked: what may change under it (its state, the budget
    used) is checked again as the budget is taken (`grants.take_budget_last`)."""
    measure = (
        await session.execute(select(Measure).where(Measure.id == measure_id))
    ).scalar_one_or_none()
    if measure is None or measure.state == MeasureState.DRAFT.value:
        raise RuleViolation("not_found", "no such measure", status=404)
    return _still_published(measure)


def _still_published(measure: Measure) -> Measure:
    if measure.state != MeasureState.PUBLISHED.value:
        raise RuleViolation(
            "outside_application_window", "this measure no longer accepts applications", status=409
        )
    return measure


async def apply(
    session: AsyncSession,
    *,
    measure_id: str,
    mykey_id: str,
    application_id: str,
    workflow_id: str,
    fixed_registration_id: str | None,
    now: datetime,
    actor: str,
    review_policy: ReviewPolicy | None = None,
    rerun: bool = True,
    with_decision: Callable[[ApplicationDecision], object] | None = None,
    measure: Measure | None = None,
) -> ApplicationDecision:
    """Decide one application (SPEC §2). Raises `RuleViolation` and writes nothing on refusal.

    With `rerun` (a workflow step), finding this very application already decided returns that
    decision; without it (the API deciding in the request) it is `already_applied`.
    `with_decision` adds what goes with a decision to the transaction (its audit entry) before
    the budget is taken, so that nothing but the commit follows the budget's update.
    `measure`, when the caller read it in this transaction, is not read again: what may have
    changed since (its state, the budget used) is checked again as the budget is taken.
    """
    if measure is None:
        measure = await _published_measure(session, measure_id)
    else:
        _still_published(measure)
    if rerun:
        # Without `rerun` the caller found no application in this transaction just before; one
        # that a concurrent request adds meanwhile fails the insert below on its unique key.
        existing = (
            await session.execute(
                select(Application.id, Application.workflow_id).where(
                    Application.measure_id == measure_id, Application.mykey_id == mykey_id
                )
            )
        ).first()
        if existing is not None:
            if tuple(existing) == (application_id, workflow_id):
                # This workflow's own decision, committed before a crash: the step runs again.
                decision = await load_decision(session, application_id)
                if with_decision is not None:
                    with_decision(decision)
                return decision
            raise RuleViolation(
                "already_applied", "one application per resident and measure", status=409
            )
    # The offered services matter only to a fixed destination (`check_destination` below).
    terms = (
        await load_terms(session, measure)
        if fixed_registration_id is not None
        else terms_of(measure, [])
    )
    on_list = (
        measure.target_list_only
        and (  # only a target-list measure asks
            await session.execute(
                select(
                    exists().where(
                        MeasureTarget.measure_id == measure_id, MeasureTarget.mykey_id == mykey_id
                    )
                )
            )
        ).scalar_one()
    )
    standing = ApplicantStanding(
        on_target_list=bool(on_list), points_already_granted=0, budget_used=measure.budget_used
    )
    points = check_application(terms, standing, now)
    if fixed_registration_id is not None:
        registration = await session.get(PaymentServiceRegistration, fixed_registration_id)
        if registration is None or registration.mykey_id != mykey_id:
            raise RuleViolation("not_found", "no such payment service registration", status=404)
        if registration.status != "active":
            raise RuleViolation(
                "registration_invalid",
                "this payment service registration is no longer valid",
                status=422,
            )
        check_destination(terms, registration.payment_service_id, now)

    if terms.kind is MeasureKind.EVENT:
        status = ApplicationStatus.REGISTERED
    elif terms.review_required:
        status = ApplicationStatus.PENDING_REVIEW
    else:
        status = ApplicationStatus.GRANTED
    application = Application(
        id=application_id,
        measure_id=measure_id,
        mykey_id=mykey_id,
        state=status.value,
        workflow_id=workflow_id,
        fixed_registration_id=fixed_registration_id,
        points_granted=0,
        created_at=now,
        decided_at=None if status is ApplicationStatus.PENDING_REVIEW else now,
    )
    session.add(application)
    decision = ApplicationDecision(
        status=application.state,
        application_id=application_id,
        municipality_code=measure.municipality_code,
        receipt_deadline=measure.receipt_deadline,
        kind=terms.kind.value,
    )
    if status is ApplicationStatus.GRANTED:
        check_cap(application, measure, points)
        decision.grants.append(  # the budget is taken last (below)
            write_grant(
                session,
                application=application,
                measure=measure,
                points=points,
                grant_id=grant_id_for(application.id, 1),
                actor=actor,
                now=now,
            )
        )
    elif status is ApplicationStatus.PENDING_REVIEW:
        review = open_review(
            session,
            review_id=f"rev_{application_id}",
            kind=ReviewKind.APPLICATION,
            application=application,
            municipality_code=measure.municipality_code,
            policy=review_policy or ReviewPolicy(),
            now=now,
        )
        decision.review = plan_of(review)
    if with_decision is not None:
        with_decision(decision)
    # Every row written before the budget is taken: a twin decided concurrently in the request,
    # which nothing here re-read, is refused by the application's unique key, unlocked.
    await _flush_or_already_applied(session)
    # Without a grant no points are taken, but the update still finds the measure published
    # (or waits for a concurrent close, and refuses after it) as the decision commits.
    await take_budget_last(
        session,
        measure,
        points if status is ApplicationStatus.GRANTED else 0,
        application_id=application_id,
    )
    return decision


async def _flush_or_already_applied(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise RuleViolation(
            "already_applied", "one application per resident and measure", status=409
        ) from exc


async def expire_unreceived(
    session: AsyncSession, *, application_id: str, now: datetime, actor: str
) -> list[str]:
    """At the receipt deadline, points nobody asked to receive expire (SPEC §3)."""
    grants = (
        await session.execute(
            select(Grant).where(
                Grant.application_id == application_id,
                Grant.state == GrantState.UNRECEIVED.value,
            )
        )
    ).scalars()
    expired = []
    for grant in grants:
        if await move_grant(session, grant, GrantState.EXPIRED, actor=actor, now=now):
            expired.append(grant.id)
    return expired


async def load_decision(session: AsyncSession, application_id: str) -> ApplicationDecision:
    """An application as it stands, for a workflow that starts after the grants were made (the
    bulk grants of an auto-grant measure have no workflow until their first receipt request).

    One query: the application with its measure's terms, each of its grants and its pending
    review (a row per grant; an application has few grants and at most one review pending)."""
    rows = (
        await session.execute(
            select(
                Application.state,
                Measure.municipality_code,
                Measure.receipt_deadline,
                Measure.kind,
                Grant.id,
                Grant.points,
                Grant.state,
                Review,
            )
            .join(Measure, Measure.id == Application.measure_id)
            .outerjoin(Grant, Grant.application_id == Application.id)
            .outerjoin(
                Review,
                and_(
                    Review.application_id == Application.id,
                    Review.status == ReviewStatus.PENDING.value,
                ),
            )
            .where(Application.id == application_id)
            .order_by(Grant.id)
        )
    ).all()
    if not rows:
        raise RuleViolation("not_found", "no such application", status=404)
    state, municipality_code, receipt_deadline, kind = rows[0][:4]
    grants: dict[str, GrantView] = {}
    pending: Review | None = None
    for row in rows:
        grant_id, points, grant_state, review = row[4:]
        if grant_id is not None and grant_id not in grants:
            grants[grant_id] = GrantView(grant_id, points, grant_state)
        pending = pending or review
    return ApplicationDecision(
        status=state,
        application_id=application_id,
        municipality_code=municipality_code,
        receipt_deadline=receipt_deadline,
        grants=list(grants.values()),
        kind=kind,
        review=plan_of(pending) if pending is not None else None,
    )


async def grants_of(session: AsyncSession, application_id: str) -> list[GrantView]:
    rows = await session.execute(
        select(Grant).where(Grant.application_id == application_id).order_by(Grant.id)
    )
    return [GrantView(g.id, g.points, g.state) for g in rows.scalars()]
