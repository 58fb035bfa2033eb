"""Grants in bulk for a measure: everyone on an auto-grant target list, and expiry at the
receipt deadline. Each call handles one batch in one transaction with set-based statements, so
a 100,000-resident list is a hundred short transactions, never 100,000 round trips.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications import ApplicationStatus, grant_id_for
from domain.measures import MeasureState
from domain.points import GrantState
from storage.ledger import move_grants
from storage.models import Application, Grant, LedgerEntry, Measure, MeasureTarget, MyKey

# (measure_id, mykey_id) -> (application ID, workflow ID), derived from the business key
ApplicationIds = Callable[[str, str], tuple[str, str]]


@dataclass(frozen=True)
class BatchOutcome:
    granted: int
    points: int
    more: bool  # another batch may find more to do
    budget_exhausted: bool = False
    cursor: str = ""  # the last target this batch looked at; the next batch starts after it


async def _locked(session: AsyncSession, measure_id: str) -> Measure | None:
    query = select(Measure).where(Measure.id == measure_id).with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def _ungranted_targets(
    session: AsyncSession, measure_id: str, after: str, limit: int
) -> list[str]:
    """Targets after `after` (keyset order, so each batch reads only its own part of the list)
    with no application yet, whose MyKey ID exists and is not revoked."""
    query = (
        select(MeasureTarget.mykey_id)
        .join(MyKey, MyKey.mykey_id == MeasureTarget.mykey_id)
        .outerjoin(
            Application,
            and_(
                Application.measure_id == MeasureTarget.measure_id,
                Application.mykey_id == MeasureTarget.mykey_id,
            ),
        )
        .where(
            MeasureTarget.measure_id == measure_id,
            MeasureTarget.mykey_id > after,
            Application.id.is_(None),
            MyKey.status != "revoked",
        )
        .order_by(MeasureTarget.mykey_id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def grant_targets(
    session: AsyncSession,
    *,
    measure_id: str,
    ids_for: ApplicationIds,
    limit: int,
    now: datetime,
    actor: str,
    after: str = "",
) -> BatchOutcome:
    """Grant up to `limit` targets of a published auto-grant measure (一律付与), in MyKey ID
    order from just after `after` (the previous batch's cursor; "" for a pass from the start).

    The measure row is locked, so this batch and residents' own applications share one budget
    first come, first served; a target who applied already is skipped by the join.
    """
    measure = await _locked(session, measure_id)
    if (
        measure is None
        or not measure.auto_grant
        or measure.state != MeasureState.PUBLISHED.value
        or now >= measure.receipt_deadline
    ):
        return BatchOutcome(granted=0, points=0, more=False)
    points = measure.points_per_grant
    targets = await _ungranted_targets(session, measure_id, after, limit)
    fitting = len(targets)
    if measure.budget_points is not None:
        fitting = min(fitting, max(measure.budget_points - measure.budget_used, 0) // points)
    exhausted = fitting < len(targets)
    chosen = targets[:fitting]
    if chosen:
        await _insert_grants(session, measure, chosen, ids_for, now=now, actor=actor)
        await session.execute(
            update(Measure)
            .where(Measure.id == measure_id)
            .values(budget_used=Measure.budget_used + points * len(chosen))
            .execution_options(synchronize_session=False)
        )
    return BatchOutcome(
        granted=len(chosen),
        points=points * len(chosen),
        more=len(targets) == limit and not exhausted,
        budget_exhausted=exhausted,
        cursor=chosen[-1] if chosen else after,
    )


async def _insert_grants(
    session: AsyncSession,
    measure: Measure,
    mykey_ids: list[str],
    ids_for: ApplicationIds,
    *,
    now: datetime,
    actor: str,
) -> None:
    points = measure.points_per_grant
    applications, grants, lines = [], [], []
    for mykey_id in mykey_ids:
        application_id, workflow_id = ids_for(measure.id, mykey_id)
        grant_id = grant_id_for(application_id, 1)
        applications.append(
            {
                "id": application_id,
                "measure_id": measure.id,
                "mykey_id": mykey_id,
                "state": ApplicationStatus.GRANTED.value,
                "workflow_id": workflow_id,
                "fixed_registration_id": None,
                "points_granted": points,
                "created_at": now,
                "decided_at": now,
            }
        )
        grants.append(
            {
                "id": grant_id,
                "application_id": application_id,
                "measure_id": measure.id,
                "mykey_id": mykey_id,
                "event_id": None,
                "points": points,
                "state": GrantState.UNRECEIVED.value,
                "receipt_count": 0,
                "current_receipt_id": None,
                "created_at": now,
                "updated_at": now,
            }
        )
        lines.append(
            {
                "grant_id": grant_id,
                "measure_id": measure.id,
                "mykey_id": mykey_id,
                "from_state": None,
                "to_state": GrantState.UNRECEIVED.value,
                "points": points,
                "receipt_id": None,
                "actor": actor,
                "at": now,
            }
        )
    # Bulk inserts: SQLAlchemy batches each list into multi-row VALUES statements.
    await session.execute(insert(Application), applications)
    await session.execute(insert(Grant), grants)
    await session.execute(insert(LedgerEntry), lines)


async def expire_measure_grants(
    session: AsyncSession, *, measure_id: str, limit: int, now: datetime, actor: str
) -> BatchOutcome:
    """At the receipt deadline, up to `limit` grants still `unreceived` become `expired`.

    The update is conditional on the state, so a grant its application workflow expired a
    moment earlier (or one a resident just asked to receive) is not moved twice.
    """
    measure = await session.get(Measure, measure_id)
    if measure is None or now < measure.receipt_deadline:
        return BatchOutcome(granted=0, points=0, more=False)
    candidates = select(Grant.id).where(
        Grant.measure_id == measure_id, Grant.state == GrantState.UNRECEIVED.value
    )
    batch = list((await session.execute(candidates.order_by(Grant.id).limit(limit))).scalars())
    if not batch:
        return BatchOutcome(granted=0, points=0, more=False)
    moved = await move_grants(
        session, batch, GrantState.UNRECEIVED, GrantState.EXPIRED, actor=actor, now=now
    )
    return BatchOutcome(
        granted=len(moved), points=sum(p for _, p in moved), more=len(batch) == limit
    )
