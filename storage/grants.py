"""Granting points: the per-person cap, the first-come budget, the grant row and its ledger line,
all in the caller's transaction, so a refusal writes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import RuleViolation
from domain.measures import MeasureState
from domain.points import GrantView
from storage.ledger import add_grant
from storage.models import Application, Grant, Measure
from storage.models.budget import BudgetClaim


async def locked_application(session: AsyncSession, application_id: str) -> Application:
    """The application row, locked on PostgreSQL so that its cap is checked one grant at a time."""
    application = (
        await session.execute(
            select(Application).where(Application.id == application_id).with_for_update()
        )
    ).scalar_one_or_none()
    if application is None:
        raise RuleViolation("not_found", "no such application", status=404)
    return application


async def reserve_budget(
    session: AsyncSession, measure: Measure, points: int, *, published_only: bool = False
) -> None:
    """First come, first served: the conditional update is the only arbiter of the budget.
    With `published_only` it also takes the points only while the measure is published; a
    refusal then says which of the two it was, as the measure stands after the update waited
    its turn."""
    condition = Measure.id == measure.id
    if published_only:
        condition = and_(condition, Measure.state == MeasureState.PUBLISHED.value)
    if measure.budget_points is not None:
        condition = and_(condition, Measure.budget_used + points <= Measure.budget_points)
    result = await session.execute(
        update(Measure)
        .where(condition)
        .values(budget_used=Measure.budget_used + points)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return
    if published_only:
        state = (
            await session.execute(select(Measure.state).where(Measure.id == measure.id))
        ).scalar_one()
        if state != MeasureState.PUBLISHED.value:
            raise RuleViolation(
                "outside_application_window",
                "this measure no longer accepts applications",
                status=409,
            )
    raise RuleViolation("budget_exhausted", "the measure's budget is used up", status=409)


async def take_budget_last(
    session: AsyncSession, measure: Measure, points: int, *, application_id: str
) -> None:
    """A decision's budget, taken as its transaction's last step while the measure is published.

    On PostgreSQL the decision writes a `BudgetClaim` and the claim's deferred trigger takes the
    points inside the commit, with `reserve_budget`'s `published_only` condition: the measure's
    row is locked only for the server's own commit, never across a round trip to this process,
    whose event loop may be busy with hundreds of requests (the opening rush). A refusal is the
    commit's error, raised as its rule (`storage/budget_refusals.py`). On SQLite, which takes
    one write lock for the whole transaction anyway, the update runs here."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            insert(BudgetClaim).values(
                application_id=application_id, measure_id=measure.id, points=points
            )
        )
        return
    await reserve_budget(session, measure, points, published_only=True)


async def grant_points(
    session: AsyncSession,
    *,
    application: Application,
    measure: Measure,
    points: int,
    grant_id: str,
    actor: str,
    now: datetime,
    event_id: str | None = None,
) -> GrantView:
    """A grant within the per-person cap and the budget (taken first), with its ledger line."""
    check_cap(application, measure, points)
    await reserve_budget(session, measure, points)
    return write_grant(
        session,
        application=application,
        measure=measure,
        points=points,
        grant_id=grant_id,
        actor=actor,
        now=now,
        event_id=event_id,
    )


def check_cap(application: Application, measure: Measure, points: int) -> None:
    if application.points_granted + points > measure.per_person_cap:
        raise RuleViolation(
            "cap_reached", "this resident has reached the measure's per-person cap", status=409
        )


def write_grant(
    session: AsyncSession,
    *,
    application: Application,
    measure: Measure,
    points: int,
    grant_id: str,
    actor: str,
    now: datetime,
    event_id: str | None = None,
) -> GrantView:
    """The grant row, its ledger line and the application's points; the caller has checked the
    cap and takes the budget (`grant_points` before, a decision in the request last)."""
    grant = Grant(
        id=grant_id,
        application_id=application.id,
        measure_id=measure.id,
        mykey_id=application.mykey_id,
        event_id=event_id,
        points=points,
        receipt_count=0,
        current_receipt_id=None,
    )
    add_grant(session, grant, actor=actor, now=now)
    application.points_granted += points
    return GrantView(grant.id, points, grant.state)
