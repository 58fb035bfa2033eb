"""Applications and their grants: eligibility, budget and cap, decided in one transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications import ApplicationDecision, ApplicationStatus, GrantView, grant_id_for
from domain.errors import RuleViolation
from domain.measures import ApplicantStanding, MeasureState, check_application, check_destination
from domain.points import GrantState
from storage.catalog import load_terms
from storage.ledger import add_grant, move_grant
from storage.models import (
    Application,
    Grant,
    Measure,
    MeasureTarget,
    PaymentServiceRegistration,
)


async def _locked_measure(session: AsyncSession, measure_id: str) -> Measure:
    measure = (
        await session.execute(select(Measure).where(Measure.id == measure_id).with_for_update())
    ).scalar_one_or_none()
    if measure is None or measure.state == MeasureState.DRAFT.value:
        raise RuleViolation("not_found", "no such measure", status=404)
    return measure


async def _reserve_budget(session: AsyncSession, measure: Measure, points: int) -> None:
    """First come, first served: the conditional update is the only arbiter of the budget."""
    condition = Measure.id == measure.id
    if measure.budget_points is not None:
        condition = and_(condition, Measure.budget_used + points <= Measure.budget_points)
    result = await session.execute(
        update(Measure)
        .where(condition)
        .values(budget_used=Measure.budget_used + points)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise RuleViolation("budget_exhausted", "the measure's budget is used up", status=409)


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
) -> ApplicationDecision:
    """Decide one application (SPEC §2). Raises `RuleViolation` and writes nothing on refusal."""
    measure = await _locked_measure(session, measure_id)
    if measure.state != MeasureState.PUBLISHED.value:
        raise RuleViolation(
            "outside_application_window", "this measure no longer accepts applications", status=409
        )
    existing = await session.execute(
        select(Application.id).where(
            Application.measure_id == measure_id, Application.mykey_id == mykey_id
        )
    )
    if existing.first() is not None:
        raise RuleViolation(
            "already_applied", "one application per resident and measure", status=409
        )
    terms = await load_terms(session, measure)
    on_list = (
        await session.execute(
            select(
                exists().where(
                    MeasureTarget.measure_id == measure_id, MeasureTarget.mykey_id == mykey_id
                )
            )
        )
    ).scalar_one()
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

    application = Application(
        id=application_id,
        measure_id=measure_id,
        mykey_id=mykey_id,
        state=(
            ApplicationStatus.PENDING_REVIEW if terms.review_required else ApplicationStatus.GRANTED
        ).value,
        workflow_id=workflow_id,
        fixed_registration_id=fixed_registration_id,
        points_granted=0,
        created_at=now,
        decided_at=None if terms.review_required else now,
    )
    session.add(application)
    decision = ApplicationDecision(
        status=application.state,
        application_id=application_id,
        municipality_code=measure.municipality_code,
        receipt_deadline=measure.receipt_deadline,
    )
    if not terms.review_required:
        await _reserve_budget(session, measure, points)
        grant = Grant(
            id=grant_id_for(application_id, 1),
            application_id=application_id,
            measure_id=measure_id,
            mykey_id=mykey_id,
            event_id=None,
            points=points,
            receipt_count=0,
            current_receipt_id=None,
        )
        add_grant(session, grant, actor=actor, now=now)
        application.points_granted = points
        decision.grants.append(GrantView(grant.id, points, grant.state))
    try:
        await session.flush()
    except IntegrityError as exc:
        raise RuleViolation(
            "already_applied", "one application per resident and measure", status=409
        ) from exc
    return decision


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
    bulk grants of an auto-grant measure have no workflow until their first receipt request)."""
    application = await session.get(Application, application_id)
    if application is None:
        raise RuleViolation("not_found", "no such application", status=404)
    measure = await session.get(Measure, application.measure_id)
    assert measure is not None
    return ApplicationDecision(
        status=application.state,
        application_id=application.id,
        municipality_code=measure.municipality_code,
        receipt_deadline=measure.receipt_deadline,
        grants=await grants_of(session, application_id),
    )


async def grants_of(session: AsyncSession, application_id: str) -> list[GrantView]:
    rows = await session.execute(
        select(Grant).where(Grant.application_id == application_id).order_by(Grant.id)
    )
    return [GrantView(g.id, g.points, g.state) for g in rows.scalars()]
