"""Reconciliation (SPEC §7): each provider's business days against the ledger, when a statement
arrives and every night; and the breaks support staff list, inspect and resolve.

Resolving moves points only through the paths that already move them: a credit the provider
confirms is an acknowledgement (`services.acknowledgements`), an open receipt it confirms it never
credited goes back through support's return (`services.support`), and a credit the hub recorded
but the provider never made is reversed by the same return rules (`storage.reversals`), after the
provider's status check says so, and its workflow is told.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from opentelemetry import metrics
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.business_days import (
    add_business_days,
    business_day_of,
    business_days_between,
    day_window,
    next_business_day,
    previous_business_day,
)
from domain.errors import RuleViolation
from domain.privacy import refuse_my_numbers
from domain.reconciliation import (
    NOT_CREDITED,
    Action,
    BreakKind,
    BreakStatus,
    Resolution,
    action_for,
    check_note,
)
from services.provider_status_check import ask_provider_status
from storage import audit
from storage.database import SessionFactory
from storage.ids import new_id
from storage.models import Grant, Measure, PaymentProvider, Receipt, ReceiptEvent
from storage.models.settlement import ReconciliationBreak, Statement
from storage.reconciliation import DayResult, days_with_open_breaks, reconcile_day
from storage.reversals import reverse_receipt
from storage.statements import current

log = logging.getLogger(__name__)
Break = ReconciliationBreak
_found = metrics.get_meter("hub.reconciliation").create_counter(
    "hub.reconciliation.breaks.found",
    description="Breaks opened by reconciliation, by provider and kind (alert on any increase)",
)


def statement_due(day: date, deadline_days: int) -> datetime:
    """A day's statement is due by the end of the `deadline_days`-th business day after it."""
    return day_window(add_business_days(day, deadline_days))[1]


def _report(results: Sequence[DayResult]) -> None:
    """New breaks count toward the alert and are logged, per provider and kind."""
    for result in results:
        for kind, count in result.new_by_kind.items():
            _found.add(count, {"provider": result.provider_id, "kind": kind})
            log.warning(
                "reconciliation found new breaks",
                extra={
                    "provider": result.provider_id,
                    "business_date": result.business_date.isoformat(),
                    "kind": kind,
                    "count": count,
                },
            )


async def after_statement(
    session: AsyncSession, provider_id: str, day: date, ctx: Any, *, now: datetime
) -> DayResult:
    """A statement arrived: its day, and each neighbour that has a statement (a credit near
    midnight may sit on either), are reconciled in the statement's own transaction. Days
    without a statement are the nightly run's."""
    deadline = ctx.settings.statement_deadline_business_days
    run = new_id("run")
    results = [
        await reconcile_day(
            session, provider_id, day, run=run, now=now, statement_due=statement_due(day, deadline)
        )
    ]
    neighbours = (previous_business_day(day), next_business_day(day))
    for other in neighbours:
        if await current(session, provider_id, other) is not None:
            results.append(
                await reconcile_day(
                    session,
                    provider_id,
                    other,
                    run=run,
                    now=now,
                    statement_due=statement_due(other, deadline),
                )
            )
    _report(results)
    return results[0]


@dataclass
class NightlySummary:
    business_date: str
    providers: int = 0
    days: int = 0
    new_breaks: int = 0
    open_breaks: int = 0


async def nightly(
    sessions: SessionFactory,
    *,
    now: datetime,
    deadline_days: int,
    lookback_days: int,
    heartbeat: Any = lambda: None,
    provider_ids: Sequence[str] | None = None,
) -> NightlySummary:
    """Every provider's previous business day, each day that still has open breaks, and each
    day whose statement is overdue (from when the provider was onboarded, within the lookback)."""
    today = business_day_of(now)
    day = previous_business_day(today)
    first = day
    for _ in range(lookback_days):
        first = previous_business_day(first)
    summary = NightlySummary(business_date=day.isoformat())
    async with sessions() as session:
        providers = list(
            (await session.execute(select(PaymentProvider.id, PaymentProvider.created_at))).all()
        )
        open_days = set(await days_with_open_breaks(session, first))
        received = {
            (p, d)
            for p, d in await session.execute(
                select(Statement.provider_id, Statement.business_date).where(
                    Statement.status == "current", Statement.business_date >= first
                )
            )
        }
    for provider_id, created_at in providers:
        if provider_ids is not None and provider_id not in provider_ids:
            continue
        start = max(first, business_day_of(created_at))
        run = new_id("run")
        results = []
        async with sessions.begin() as session:
            for candidate in business_days_between(start, day):
                overdue = (provider_id, candidate) not in received and now >= statement_due(
                    candidate, deadline_days
                )
                if candidate == day or overdue or (provider_id, candidate) in open_days:
                    results.append(
                        await reconcile_day(
                            session,
                            provider_id,
                            candidate,
                            run=run,
                            now=now,
                            statement_due=statement_due(candidate, deadline_days),
                        )
                    )
                    heartbeat()
        _report(results)
        summary.providers += 1
        summary.days += len(results)
        summary.new_breaks += sum(r.new_breaks for r in results)
        summary.open_breaks += sum(r.open_breaks for r in results)
    return summary


# ----- support: list, inspect, ask, resolve ---------------------------------------------------


def parse_break_id(break_id: str) -> int:
    prefix, _, number = break_id.partition("_")
    if prefix != "brk" or not number.isdigit() or len(number) > 18:
        raise RuleViolation("not_found", "no such break", status=404)
    return int(number)


def break_id_of(row: Break) -> str:
    return f"brk_{row.id}"


async def list_breaks(
    ctx: Any,
    *,
    provider_id: str | None,
    business_date: date | None,
    kind: str | None,
    status: str | None,
    before: int | None,
    limit: int,
) -> list[Break]:
    """At most `limit` breaks, newest first; `before`: only breaks older than that one (the
    last of the previous page), so a page keeps its place while breaks open or are resolved."""
    query = select(Break).order_by(Break.id.desc()).limit(limit)
    if provider_id:
        query = query.where(Break.provider_id == provider_id)
    if business_date:
        query = query.where(Break.business_date == business_date)
    if kind:
        query = query.where(Break.kind == kind)
    if status:
        query = query.where(Break.status == status)
    if before is not None:
        query = query.where(Break.id < before)
    async with ctx.sessions() as session:
        return list((await session.execute(query)).scalars())


@dataclass
class BreakDetail:
    row: Break
    receipt: Receipt | None
    grant: Grant | None
    measure: Measure | None
    timeline: list[ReceiptEvent]
    allowed: list[str]


async def get_break(ctx: Any, break_id: str) -> Break:
    async with ctx.sessions() as session:
        row = await session.get(Break, parse_break_id(break_id))
    if row is None:
        raise RuleViolation("not_found", "no such break", status=404)
    return row


def allowed_resolutions(row: Break, receipt_state: str | None) -> list[str]:
    if row.status != BreakStatus.OPEN.value:
        return []
    allowed = []
    for resolution in (
        Resolution.PROVIDER_CONFIRMED_CREDIT,
        Resolution.PROVIDER_CONFIRMED_NO_CREDIT,
        Resolution.ACCEPTED_DIFFERENCE,
    ):
        try:
            action_for(BreakKind(row.kind), resolution, receipt_state)
        except RuleViolation:
            continue
        allowed.append(resolution.value)
    return allowed


async def detail(ctx: Any, break_id: str) -> BreakDetail:
    row = await get_break(ctx, break_id)
    receipt = grant = measure = None
    timeline: list[ReceiptEvent] = []
    async with ctx.sessions() as session:
        if row.receipt_id:
            receipt = await session.get(Receipt, row.receipt_id)
        if receipt is not None and receipt.provider_id == row.provider_id:
            grant = await session.get(Grant, receipt.grant_id)
            measure = await session.get(Measure, receipt.measure_id)
            timeline = list(
                (
                    await session.execute(
                        select(ReceiptEvent)
                        .where(ReceiptEvent.receipt_id == receipt.id)
                        .order_by(ReceiptEvent.at, ReceiptEvent.id)
                    )
                ).scalars()
            )
        else:
            receipt = None
    state = receipt.state if receipt is not None else None
    return BreakDetail(row, receipt, grant, measure, timeline, allowed_resolutions(row, state))


async def provider_status(ctx: Any, row: Break, actor: str) -> tuple[str, str | None]:
    """Ask the provider now (Hub Provider Protocol `GET /credits/{receipt_id}` or its style's
    equivalent): (status, provider_reference)."""
    if not row.receipt_id:
        raise RuleViolation(
            "resolution_not_allowed", "a missing statement has no receipt to ask about", status=409
        )
    status, reference = await ask_provider_status(
        ctx,
        row.provider_id,
        row.receipt_id,
        unanswered="the provider did not answer the status check: {kind}",
    )
    async with ctx.sessions.begin() as session:
        audit.record(
            session,
            actor=actor,
            action="check_provider_status",
            object_type="reconciliation_break",
            object_id=break_id_of(row),
            outcome=status,
            at=ctx.clock(),
        )
    return status, reference


async def resolve(
    ctx: Any, break_id: str, *, resolution: str, note: str | None, actor: str
) -> Break:
    """Resolve a break once; every resolution is audited with its note."""
    try:
        chosen = Resolution(resolution)
    except ValueError as exc:
        raise RuleViolation("validation_error", "unknown resolution", status=422) from exc
    if chosen is Resolution.CLEARED:
        raise RuleViolation(
            "resolution_not_allowed", "breaks are cleared by reconciliation", status=409
        )
    text = check_note(chosen, note)
    refuse_my_numbers(note=text)
    row = await get_break(ctx, break_id)
    if row.status != BreakStatus.OPEN.value:
        raise _already(row)
    receipt_state = None
    if row.receipt_id:
        async with ctx.sessions() as session:
            receipt = await session.get(Receipt, row.receipt_id)
        if receipt is not None and receipt.provider_id == row.provider_id:
            receipt_state = receipt.state
    action = action_for(BreakKind(row.kind), chosen, receipt_state)
    detail: dict[str, Any] = {"resolution": chosen.value, "action": action.value, "note": text}
    if action is Action.ACKNOWLEDGE_CREDIT:
        await _acknowledge_credit(ctx, row)
    elif action is Action.RETURN_OPEN:
        await _return_open(ctx, row, text, actor)
    elif action is Action.REVERSE_CREDIT:
        status, _ = await provider_status(ctx, row, actor)
        if status not in NOT_CREDITED:
            raise RuleViolation(
                "resolution_not_allowed",
                f"the provider answers {status}: the credit cannot be reversed",
                status=409,
            )
        detail["provider_status"] = status
        return await _reverse(ctx, row, text, actor, detail)
    return await _close(ctx, row, chosen, text, actor, detail)


def _already(row: Break) -> RuleViolation:
    return RuleViolation(
        "break_already_resolved",
        f"this break was resolved already ({row.resolution})",
        status=409,
    )


async def _close(
    ctx: Any,
    row: Break,
    chosen: Resolution,
    note: str,
    actor: str,
    detail: dict[str, Any],
    session: AsyncSession | None = None,
) -> Break:
    async def mark(session: AsyncSession) -> Break:
        now = ctx.clock()
        done = await session.execute(
            update(Break)
            .where(Break.id == row.id, Break.status == BreakStatus.OPEN.value)
            .values(
                status=BreakStatus.RESOLVED.value,
                resolution=chosen.value,
                note=note,
                resolved_by=actor,
                resolved_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise _already(row)
        receipt = await session.get(Receipt, row.receipt_id) if row.receipt_id else None
        if receipt is not None and receipt.provider_id == row.provider_id:
            session.add(  # support staff reading the receipt see what was decided, and why
                ReceiptEvent(
                    receipt_id=receipt.id,
                    at=now,
                    state="note",
                    actor=actor,
                    detail=f"reconciliation {row.kind}: {chosen.value}. {note}"[:2000],
                )
            )
        audit.record(
            session,
            actor=actor,
            action="resolve_break",
            object_type="reconciliation_break",
            object_id=break_id_of(row),
            outcome=chosen.value,
            detail={**detail, "kind": row.kind, "receipt_id": row.receipt_id},
            at=now,
        )
        found = await session.get(Break, row.id, populate_existing=True)
        assert found is not None
        return found

    if session is not None:
        return await mark(session)
    async with ctx.sessions.begin() as own:
        return await mark(own)


async def _acknowledge_credit(ctx: Any, row: Break) -> None:
    """The provider confirms the credit: recorded as its acknowledgement would be."""
    from services.acknowledgements import acknowledge

    assert row.receipt_id is not None
    try:
        await acknowledge(
            ctx,
            row.provider_id,
            row.receipt_id,
            "credited",
            None,
            row.provider_reference,
            "reconciliation",
        )
    except RuleViolation as refused:
        if refused.code == "ack_conflict":
            raise RuleViolation("resolution_not_allowed", refused.detail, status=409) from refused
        raise


async def _return_open(ctx: Any, row: Break, note: str, actor: str) -> None:
    """An open receipt the provider never credited: support's return, which asks the provider
    once more and moves the points only on its `not_found` or `rejected`."""
    from services import support

    assert row.receipt_id is not None
    try:
        await support.act(
            ctx, row.receipt_id, action="return_to_unreceived", note=note, actor=actor
        )
    except RuleViolation as refused:
        if refused.status in (409, 422):
            raise RuleViolation("resolution_not_allowed", refused.detail, status=409) from refused
        raise


async def _reverse(ctx: Any, row: Break, note: str, actor: str, detail: dict[str, Any]) -> Break:
    """Reverse a credit the provider never made, close the break, tell the workflow."""
    from services.acknowledgements import AckItem, deliver

    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        locked = await session.get(Break, row.id, with_for_update=True, populate_existing=True)
        if locked is None or locked.status != BreakStatus.OPEN.value:
            raise _already(row)
        receipt = await session.get(Receipt, row.receipt_id, with_for_update=True)
        assert receipt is not None
        reversed_ = await reverse_receipt(
            session, receipt, note=note, actor=actor, now=now, break_id=row.id
        )
        if reversed_ is None:
            raise RuleViolation(
                "resolution_not_allowed", "the receipt is no longer credited", status=409
            )
        detail.update(
            receipt_state=reversed_.receipt_state,
            grant_state=reversed_.grant_state,
            adjustment_for=reversed_.adjusted_month,
        )
        closed = await _close(
            ctx, row, Resolution.PROVIDER_CONFIRMED_NO_CREDIT, note, actor, detail, session
        )
        workflow_id = receipt.workflow_id
    # A workflow still running holds the grant as credited: it takes the reversal as it takes an
    # applied acknowledgement (one that has ended needs nothing).
    await deliver(
        ctx,
        [
            (
                workflow_id,
                AckItem(
                    row.receipt_id or "",
                    "rejected",
                    note,
                    None,
                    receipt_state=reversed_.receipt_state,
                    grant_state=reversed_.grant_state,
                ),
            )
        ],
    )
    return closed
