"""Measures as municipal staff manage them: draft, edit while draft, publish, close.

Publishing also starts the measure's own workflow (`workflows/measure.py`), which grants an
auto-grant list and expires what is left unreceived at the receipt deadline.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import delete, select
from temporalio.common import WorkflowIDConflictPolicy

from domain.errors import RuleViolation
from domain.identifiers import is_municipality_code
from domain.measures import (
    MeasureKind,
    MeasureState,
    MeasureTerms,
    ServiceOffer,
    check_editable,
    check_publishable,
    check_state_change,
    validate_terms,
)
from domain.privacy import refuse_my_numbers
from services.context import HubContext
from services.orchestration import orchestrator
from storage.catalog import get_measure, load_terms
from storage.events import events_of
from storage.ids import new_id
from storage.models import Measure, MeasurePaymentService, Municipality, PaymentService
from workflows.measure import MeasureInput, MeasureWorkflow, measure_workflow_id


@dataclass
class MeasureDraft:
    title: str
    description: str
    kind: str
    points_per_grant: int
    per_person_cap: int
    budget_points: int | None
    opens_at: datetime
    closes_at: datetime
    receipt_deadline: datetime
    target_list_only: bool
    auto_grant: bool
    review_required: bool
    late_report_days: int
    payment_services: list[ServiceOffer]
    yen_per_point: int = 1  # what the municipality pays a provider per credited point (精算)


def _terms(draft: MeasureDraft) -> MeasureTerms:
    try:
        kind = MeasureKind(draft.kind)
    except ValueError as exc:
        raise RuleViolation("invalid_measure", "kind must be application or event") from exc
    return MeasureTerms(
        kind=kind,
        points_per_grant=draft.points_per_grant,
        per_person_cap=draft.per_person_cap,
        budget_points=draft.budget_points,
        opens_at=draft.opens_at,
        closes_at=draft.closes_at,
        receipt_deadline=draft.receipt_deadline,
        target_list_only=draft.target_list_only,
        auto_grant=draft.auto_grant,
        review_required=draft.review_required,
        late_report_days=draft.late_report_days,
        services=tuple(draft.payment_services),
    )


def check_municipality_code(code: str) -> None:
    """Every entry point that names a municipality checks the code's check digit first."""
    if not is_municipality_code(code):
        raise RuleViolation(
            "invalid_municipality_code",
            "a municipality code is six digits whose last is the check digit",
            status=422,
        )


def check_free_text(**texts: str) -> None:
    """SPEC §6: free text never carries a My Number (the one rule, `domain/privacy.py`)."""
    refuse_my_numbers(**texts)


async def _check_services(ctx: HubContext, offers: list[ServiceOffer]) -> None:
    async with ctx.sessions() as session:
        for offer in offers:
            if await session.get(PaymentService, offer.payment_service_id) is None:
                raise RuleViolation(
                    "unknown_payment_service",
                    f"no such payment service: {offer.payment_service_id}",
                    status=422,
                )


def _apply_draft(measure: Measure, draft: MeasureDraft) -> None:
    for f in fields(MeasureDraft):
        if f.name != "payment_services":
            setattr(measure, f.name, getattr(draft, f.name))


async def create(ctx: HubContext, municipality_code: str, draft: MeasureDraft) -> Measure:
    check_municipality_code(municipality_code)
    validate_terms(_terms(draft))
    check_free_text(title=draft.title, description=draft.description)
    await _check_services(ctx, draft.payment_services)
    now = ctx.clock()
    measure = Measure(
        id=new_id("msr"),
        municipality_code=municipality_code,
        state=MeasureState.DRAFT.value,
        budget_used=0,
        created_at=now,
        published_at=None,
        closed_at=None,
    )
    _apply_draft(measure, draft)
    async with ctx.sessions.begin() as session:
        if await session.get(Municipality, municipality_code) is None:
            raise RuleViolation("not_found", "no such municipality", status=404)
        session.add(measure)
        await session.flush()
        for offer in draft.payment_services:
            session.add(
                MeasurePaymentService(
                    measure_id=measure.id,
                    payment_service_id=offer.payment_service_id,
                    available_from=offer.available_from,
                )
            )
    return measure


async def owned_measure(ctx: HubContext, municipality_code: str, measure_id: str) -> Measure:
    async with ctx.sessions() as session:
        measure = await session.get(Measure, measure_id)
    if measure is None or measure.municipality_code != municipality_code:
        raise RuleViolation("not_found", "no such measure", status=404)
    return measure


async def current_draft(ctx: HubContext, measure: Measure) -> MeasureDraft:
    async with ctx.sessions() as session:
        terms = await load_terms(session, measure)
    return MeasureDraft(
        title=measure.title,
        description=measure.description,
        kind=measure.kind,
        points_per_grant=measure.points_per_grant,
        per_person_cap=measure.per_person_cap,
        budget_points=measure.budget_points,
        opens_at=measure.opens_at,
        closes_at=measure.closes_at,
        receipt_deadline=measure.receipt_deadline,
        target_list_only=measure.target_list_only,
        auto_grant=measure.auto_grant,
        review_required=measure.review_required,
        late_report_days=measure.late_report_days,
        payment_services=list(terms.services),
        yen_per_point=measure.yen_per_point,
    )


async def update(
    ctx: HubContext, municipality_code: str, measure_id: str, draft: MeasureDraft
) -> Measure:
    measure = await owned_measure(ctx, municipality_code, measure_id)
    check_editable(MeasureState(measure.state))
    validate_terms(_terms(draft))
    check_free_text(title=draft.title, description=draft.description)
    await _check_services(ctx, draft.payment_services)
    async with ctx.sessions.begin() as session:
        row = await get_measure(session, measure_id)
        check_editable(MeasureState(row.state))  # again, under the transaction
        kind_changes = row.kind == MeasureKind.EVENT.value and draft.kind != row.kind
        if kind_changes and await events_of(session, measure_id):
            raise RuleViolation(
                "invalid_measure", "a measure with events must stay an event measure"
            )
        _apply_draft(row, draft)
        await session.execute(
            delete(MeasurePaymentService).where(MeasurePaymentService.measure_id == measure_id)
        )
        for offer in draft.payment_services:
            session.add(
                MeasurePaymentService(
                    measure_id=measure_id,
                    payment_service_id=offer.payment_service_id,
                    available_from=offer.available_from,
                )
            )
    return row


async def transition(
    ctx: HubContext, municipality_code: str, measure_id: str, target: MeasureState
) -> Measure:
    """Move a measure along draft → published → closed; repeating a done move is harmless."""
    await owned_measure(ctx, municipality_code, measure_id)
    async with ctx.sessions.begin() as session:
        row = await get_measure(session, measure_id)
        if not check_state_change(MeasureState(row.state), target):
            return row
        if target is MeasureState.PUBLISHED:
            check_publishable(await load_terms(session, row), ctx.clock())
            row.published_at = ctx.clock()
        else:
            row.closed_at = ctx.clock()
        row.state = target.value
    return row


async def publish(ctx: HubContext, municipality_code: str, measure_id: str) -> Measure:
    """Publish, then make sure the measure's workflow runs. Both steps are idempotent, so a
    publish that failed to reach Temporal (503) is completed by repeating the request."""
    measure = await transition(ctx, municipality_code, measure_id, MeasureState.PUBLISHED)
    await ensure_measure_workflow(ctx, measure)
    return measure


async def ensure_measure_workflow(
    ctx: HubContext, measure: Measure, *, targets_added: bool = False
) -> None:
    """Make sure the measure's lifecycle runs, through the orchestrator; with `targets_added`,
    also tell it to grant them."""
    await orchestrator(ctx).start_measure(ctx, measure, targets_added=targets_added)


async def start_measure_workflow(
    ctx: HubContext, measure: Measure, *, targets_added: bool = False
) -> None:
    """Start `measure-<id>` unless it runs; with `targets_added`, also tell it to grant them."""
    start = MeasureInput(
        measure_id=measure.id,
        auto_grant=measure.auto_grant,
        receipt_deadline=measure.receipt_deadline,
    )
    await ctx.client().start_workflow(
        MeasureWorkflow.run,
        start,
        id=measure_workflow_id(measure.id),
        task_queue=ctx.settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal="targets_added" if targets_added else None,
    )


async def list_measures(
    ctx: HubContext,
    municipality_code: str,
    *,
    state: MeasureState | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Measure]:
    """A municipality's own measures, newest first, drafts included."""
    query = select(Measure).where(Measure.municipality_code == municipality_code)
    if state is not None:
        query = query.where(Measure.state == state.value)
    query = query.order_by(Measure.created_at.desc(), Measure.id).limit(limit).offset(offset)
    async with ctx.sessions() as session:
        return list((await session.execute(query)).scalars())
