"""Receipts that no workflow carries are handed back to one (issue 17): a receipt claimed in the
database stays open until a final answer, so its application's workflow must be carrying it.

Two ways lead here. An answer whose workflow has ended is applied where it is received
(`services/acknowledgements.deliver`, webhooks, pull and result files alike), and the rest of
the application's open receipts are resumed at once. And the lost-claim sweep, run by every hub
worker, finds open receipts untouched for a while whose workflow has ended or does not carry
them (a worker lost between a claim's commit and the workflow seeing it, an update given up
after its claim committed) and resumes those. Resuming is the `resume_receipts` update sent
with start: a run started when none is running, the same run otherwise; it takes up only what
it does not carry, so a repeated or concurrent resume adds nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
)
from temporalio.exceptions import TemporalError
from temporalio.service import RPCError, RPCStatusCode

from services.temporal_orchestration import start_existing
from storage import audit, receipts
from storage.database import SessionFactory
from storage.models import Application, Grant, Receipt
from workflows.application import ApplicationWorkflow
from workflows.messages import ResumeOutcome, ResumeRequest

log = logging.getLogger(__name__)

RESUME_WAIT = timedelta(seconds=10)
RESUME_CONCURRENCY = 16
# An open receipt untouched this long is looked at: longer than an API request keeps re-sending
# its update (`HUB_WORKFLOW_KEEP_TRYING_S`, 10 minutes), so a claim still on its way is left be.
SWEEP_AGE = timedelta(minutes=15)
SWEEP_LIMIT = 200  # applications looked at per sweep; the next sweep goes on from there


class ResumeContext(Protocol):
    @property
    def sessions(self) -> SessionFactory: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...

    def client(self) -> Client: ...


async def resume_application(
    ctx: ResumeContext,
    application: Application,
    *,
    task_queue: str,
    actor: str,
    reason: str,
    wait: timedelta = RESUME_WAIT,
) -> list[str] | None:
    """`resume_receipts` for one application, audited; the receipts its workflow took up, or
    None when the workflow service did not answer within `wait` (the next sweep tries again)."""
    start = start_existing(application, task_queue)
    try:
        outcome: ResumeOutcome = await asyncio.wait_for(
            ctx.client().execute_update_with_start_workflow(
                ApplicationWorkflow.resume_receipts,
                ResumeRequest(reason),
                start_workflow_operation=start,
            ),
            wait.total_seconds(),
        )
    except (TimeoutError, TemporalError) as error:  # RPC errors and time-outs, a refused update
        log.warning("application %s not resumed yet: %r", application.id, error)
        return None
    async with ctx.sessions.begin() as session:
        audit.record(
            session,
            actor=actor,
            action="resume_receipts",
            object_type="application",
            object_id=application.id,
            outcome=f"resumed {len(outcome.resumed)}",
            detail={"reason": reason, "receipt_ids": outcome.resumed},
            at=ctx.clock(),
        )
    return outcome.resumed


async def resume_remaining(
    ctx: ResumeContext, workflow_ids: Iterable[str], *, task_queue: str, actor: str
) -> int:
    """Applications whose workflow ended while some of their receipts still wait for a provider
    get a run that carries those on; returns how many were resumed."""
    async with ctx.sessions() as session:
        found = await session.execute(
            select(Application).where(Application.workflow_id.in_(sorted(set(workflow_ids))))
        )
        waiting = [a for a in found.scalars() if await receipts.open_receipts(session, a.id)]
    gate = asyncio.Semaphore(RESUME_CONCURRENCY)

    async def one(application: Application) -> bool:
        async with gate:
            taken = await resume_application(
                ctx, application, task_queue=task_queue, actor=actor, reason="answer"
            )
            return taken is not None

    return sum(await asyncio.gather(*(one(a) for a in waiting)))


@dataclass
class SweepReport:
    looked_at: int = 0  # applications with an open receipt older than the threshold
    resumed: dict[str, list[str]] = field(default_factory=dict)  # application -> receipts
    last_application_id: str | None = None  # where the next sweep goes on (None: from the top)


async def _carried(client: Client, workflow_id: str) -> set[str] | None:
    """The receipts a running workflow carries; None when it is not running (ended, never
    started) and so carries nothing."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        described = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    if described.status != WorkflowExecutionStatus.RUNNING:
        return None
    status = await handle.query(ApplicationWorkflow.status)
    return {r.plan.receipt_id for r in status.receipts}


async def sweep_lost_claims(
    ctx: ResumeContext,
    *,
    task_queue: str,
    older_than: timedelta = SWEEP_AGE,
    limit: int = SWEEP_LIMIT,
    after: str | None = None,
) -> SweepReport:
    """One sweep over applications (in ID order, from `after`) with an open receipt not touched
    for `older_than`: each whose workflow has ended or does not carry such a receipt is resumed
    (audited as `resume_receipts` by `sweeper`)."""
    cutoff = ctx.clock() - older_than
    open_states = [s.value for s in receipts.OPEN_RECEIPT_STATES]
    stale = (
        select(Grant.application_id)
        .join(Receipt, Receipt.id == Grant.current_receipt_id)
        .where(Receipt.state.in_(open_states), Receipt.updated_at < cutoff)
    )
    if after is not None:
        stale = stale.where(Grant.application_id > after)
    page = stale.group_by(Grant.application_id).order_by(Grant.application_id).limit(limit)
    query = (
        select(Application, Receipt.id)
        .join(Grant, Grant.application_id == Application.id)
        .join(Receipt, Receipt.id == Grant.current_receipt_id)
        .where(
            Application.id.in_(page.scalar_subquery()),
            Receipt.state.in_(open_states),
            Receipt.updated_at < cutoff,
        )
        .order_by(Application.id, Receipt.id)
    )
    async with ctx.sessions() as session:
        rows = (await session.execute(query)).all()
    by_application: dict[str, tuple[Application, list[str]]] = {}
    for application, receipt_id in rows:
        by_application.setdefault(application.id, (application, []))[1].append(receipt_id)
    report = SweepReport(looked_at=len(by_application))
    if len(by_application) >= limit:
        report.last_application_id = max(by_application)
    client = ctx.client()
    for application, open_ids in by_application.values():
        try:
            carried = await _carried(client, application.workflow_id)
        except TemporalError as error:  # no answer now (RPC, time-out, query): next sweep
            log.warning("sweep: workflow of %s not read: %r", application.id, error)
            continue
        if carried is not None and carried.issuperset(open_ids):
            continue
        taken = await resume_application(
            ctx, application, task_queue=task_queue, actor="sweeper", reason="lost_claim"
        )
        if taken is not None:
            report.resumed[application.id] = taken
    return report
