"""Applying to a measure, and every API call that waits on an application's workflow.

An application that needs no review (an `application` measure without `review_required`) is
decided in the request, in one transaction: the resident's session, the measure and a previous
application read in one query, eligibility, the grant with its ledger line and audit entry, and
last the budget, first come, first served (taken inside the commit on PostgreSQL, by the last
statement on SQLite, as in the workflow's step: `storage/applications.py`). No workflow starts
for it then; its first receipt request starts one from the database (`update_application`), and
the measure's own workflow
expires what is never asked for at the receipt deadline. Once a measure's budget is gone, the
refusal comes from an unlocked read: the budget only ever grows used, so nothing waits on the
lock for it.

An application that needs review, and an event measure's registration, start their workflow by
the `apply` update (update-with-start), as before. Every wait on a workflow has a deadline
(`HUB_WORKFLOW_WAIT_S`): past it the caller gets 503 `temporal_unavailable` with Retry-After,
whether the workers are down or the server is slow, never a request that hangs. What carries the
workflow's steps is the orchestrator's (`services/orchestration.py`): Temporal, or in-process calls
for benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.applications import decide
from activities.types import DecideApplicationInput
from domain.applications import ApplicationDecision
from domain.errors import RuleViolation
from domain.identifiers import application_key
from domain.measures import ApplicantStanding, MeasureKind, MeasureState, check_application
from services.context import HubContext
from services.identity import ResidentSeen
from services.orchestration import NewApplication, orchestrator
from storage import identity
from storage.catalog import terms_of
from storage.models import Application, Measure, MeasureTarget, MyKey


def application_ids(ctx: HubContext, measure_id: str, mykey_id: str) -> tuple[str, str]:
    """(application ID, workflow ID), both derived from the business key, neither revealing it."""
    key = application_key(measure_id, mykey_id, ctx.id_secret)
    return f"app_{key}", f"application-{measure_id}-{key}"


def decided_in_request(measure: Measure) -> bool:
    """Applications the API decides itself: no review, no events to carry."""
    return measure.kind == MeasureKind.APPLICATION.value and not measure.review_required


async def _refuse_when_budget_gone(
    session: AsyncSession, measure: Measure, mykey_id: str, ctx: HubContext
) -> None:
    """The refusal of an application to a measure whose budget an unlocked read shows used up:
    the same rules in the same order as the locked decision (window, target list, cap, budget),
    so the answer is the one the lock would give."""
    if measure.budget_points is None:
        return
    if measure.budget_used + measure.points_per_grant <= measure.budget_points:
        return
    on_list = False
    if measure.target_list_only:
        query = select(
            exists().where(
                MeasureTarget.measure_id == measure.id, MeasureTarget.mykey_id == mykey_id
            )
        )
        on_list = bool((await session.execute(query)).scalar_one())
    standing = ApplicantStanding(
        on_target_list=on_list, points_already_granted=0, budget_used=measure.budget_used
    )
    check_application(terms_of(measure, []), standing, ctx.clock())


async def apply(
    ctx: HubContext,
    *,
    measure_id: str,
    token: str,
    fixed_registration_id: str | None,
    request_id: str | None = None,
    seen: ResidentSeen | None = None,
    budget_gone: Callable[[str], None] | None = None,
) -> ApplicationDecision:
    """Apply as the resident of session `token`; see the module's docstring for the two paths.
    A decision in the request refused on the budget tells `budget_gone` the measure's ID: the
    budget only grows used, so the measure stays used up (`api/refusal_lane.py`)."""
    decided_here = False
    try:
        async with ctx.sessions.begin() as session:
            resident, measure = await _resident_and_measure(session, token, measure_id, ctx, seen)
            mykey_id = resident.mykey_id
            application_id, workflow_id = application_ids(ctx, measure_id, mykey_id)
            if decided_in_request(measure):
                decided_here = True
                await _refuse_when_budget_gone(session, measure, mykey_id, ctx)
                return await decide(
                    session,
                    DecideApplicationInput(
                        measure_id=measure_id,
                        mykey_id=mykey_id,
                        application_id=application_id,
                        workflow_id=workflow_id,
                        fixed_registration_id=fixed_registration_id,
                    ),
                    now=ctx.clock(),
                    actor=f"resident:{mykey_id}",
                    request_id=request_id,
                    rerun=False,
                    measure=measure,
                )
    except RuleViolation as refused:
        if decided_here and refused.code == "budget_exhausted" and budget_gone is not None:
            budget_gone(measure_id)
        raise
    new = NewApplication(measure_id, mykey_id, application_id, workflow_id, fixed_registration_id)
    return await orchestrator(ctx).apply(ctx, new)


_MEASURE_FIELDS = tuple((a.key, a.columns[0]) for a in Measure.__mapper__.column_attrs)
# The session's resident, the measure (every column, as `m_<name>`) and whether this resident
# applied to it already: one statement, built once.
_RESIDENT_AND_MEASURE = (
    identity.resident_query()
    .add_columns(
        *(column.label(f"m_{key}") for key, column in _MEASURE_FIELDS),
        exists()
        .where(
            Application.measure_id == bindparam("measure_id"),
            Application.mykey_id == MyKey.mykey_id,
        )
        .label("applied"),
    )
    .outerjoin(Measure, Measure.id == bindparam("measure_id"))
)


async def _resident_and_measure(
    session: AsyncSession,
    token: str,
    measure_id: str,
    ctx: HubContext,
    seen: ResidentSeen | None,
) -> tuple[MyKey, Measure]:
    """The session's resident, the measure as last committed and whether this resident applied
    to it already, in one query; refused in that order (401, 404, `already_applied`), the
    resident `seen` first (the audit's actor and the per-MyKey rate limit count refusals too).
    The measure is read, not attached to the session: the decision only reads it."""
    resident, row = await identity.resident_with(
        session, _RESIDENT_AND_MEASURE, token, {"measure_id": measure_id}, now=ctx.clock()
    )
    if seen is not None:
        await seen(resident)
    fields = row._mapping
    measure = (
        None
        if fields["m_id"] is None
        else Measure(**{key: fields[f"m_{key}"] for key, _ in _MEASURE_FIELDS})
    )
    if measure is None or measure.state == MeasureState.DRAFT.value:
        raise RuleViolation("not_found", "no such measure", status=404)
    if row.applied:
        raise RuleViolation(
            "already_applied", "one application per resident and measure", status=409
        )
    return resident, measure


async def update_application(
    ctx: HubContext, application: Application, update: Any, argument: Any
) -> Any:
    """Send an update (an `ApplicationWorkflow` method) to an application through the
    orchestrator (`services/orchestration.py`): with Temporal its workflow is started from the
    database when it has none or has ended; a refused rule comes back as `RuleViolation`, no
    answer within the deadline as 503 `temporal_unavailable`."""
    return await orchestrator(ctx).update_application(ctx, application, update, argument)
