"""The one way a provider's answer reaches a receipt's workflow: the pull API and reconciliation
call `acknowledge` (one answer), a webhook records its answer with `record_one` in the
transaction that remembers its message ID, then `conclude`s it, and batch result files are
`record`ed a slice at a time, their workflows told afterwards with `redeliver`
(`services/batches.py`: the pages first, the signals after). `acknowledge_many` records and
tells many answers at once.

An acknowledgement is first recorded in the database (the first answer per receipt wins; a
result file's answers are also applied to their receipts in the same transaction,
`storage.outcomes`), then signalled, with the outcome when it was applied, to the application
workflow named on the receipt. The same answer again is harmless
and re-signals if the first signal never went out; a contradicting answer is refused with
`ack_conflict`. A late answer never changes a final receipt: the workflow ignores it, and
`storage.receipts.finish_credit` only moves open receipts. An answer whose workflow has ended is
applied here, where it was received (`deliver`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import RuleViolation
from domain.identifiers import redact_my_numbers
from domain.receipts import ReceiptState
from services import direct_orchestration, orchestration
from services.context import HubContext
from services.contradictions import settle_credited_after_rejection
from services.resumption import ResumeContext, resume_remaining
from storage import outcomes, provider_inbox
from storage.database import SessionFactory
from workflows.application import ApplicationWorkflow
from workflows.messages import Acknowledgement

log = logging.getLogger(__name__)

ACK_STATUSES = frozenset({"credited", "rejected"})
SOURCES = frozenset({"webhook", "pull", "batch", "reconciliation"})
SIGNAL_CONCURRENCY = 64
# Result files are applied as they are ingested, thousands of answers in a few statements, off
# any request path. A webhook or pull answer is left to its workflow to record: it may arrive
# while the credit call of the same receipt is still being recorded.
APPLIED_AT_RECEIPT = frozenset({"batch"})
# Final receipt states, and the acknowledgement each agrees with.
_AGREES_WITH = {
    ReceiptState.CREDITED.value: "credited",
    ReceiptState.REJECTED.value: "rejected",
    ReceiptState.RETURNED.value: "rejected",
    ReceiptState.FORFEITED.value: "rejected",
}


# What acknowledging needs; `HubContext` (API) and `WorkerContext` (activities) have it: the same
# as resuming an application (an answer for an ended workflow resumes it).
AckContext = ResumeContext


@dataclass
class WorkerContext:
    sessions: SessionFactory
    temporal: Client
    clock: Callable[[], datetime]
    task_queue: str | None = None  # the hub's queue: where a resumed application runs

    def client(self) -> Client:
        return self.temporal


def hub_queue(ctx: AckContext) -> str | None:
    """The task queue application workflows run on, when this context knows it."""
    if isinstance(ctx, HubContext):
        return ctx.settings.task_queue
    if isinstance(ctx, WorkerContext):
        return ctx.task_queue
    return None


@dataclass(frozen=True)
class AckItem(outcomes.Answer):
    receipt_state: str | None = None  # the outcome, when it was recorded with the answer
    grant_state: str | None = None


class AckVerdict(StrEnum):
    RECORDED = "recorded"  # first answer for this receipt
    DUPLICATE = "duplicate"  # the same answer as before
    CONFLICT = "conflict"  # contradicts the earlier answer or the receipt's final state
    UNKNOWN = "unknown"  # no such receipt at this provider


@dataclass(frozen=True)
class AckResult:
    receipt_id: str
    verdict: AckVerdict
    detail: str | None = None
    delivered: bool = True  # the workflow was told (or needed no telling)


def _same(prior: Any, item: AckItem) -> bool:
    if prior.status != item.status:
        return False
    return (
        prior.provider_reference is None
        or item.provider_reference is None
        or prior.provider_reference == item.provider_reference
    )


def _clean(text: str | None, limit: int) -> str | None:
    return None if text is None else redact_my_numbers(text)[:limit]


@dataclass
class Recorded:
    """Answers recorded in a transaction, with what is left to do once it commits: the
    workflows to tell (`conclude`)."""

    order: list[str]  # the receipts in the order they were given
    results: dict[str, AckResult]
    to_signal: list[tuple[str, AckItem]]  # (workflow ID, answer)


def _checked(items: Sequence[AckItem], source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"unknown acknowledgement source {source!r}")
    if any(item.status not in ACK_STATUSES for item in items):
        raise ValueError("an acknowledgement is credited or rejected")


async def record(
    session: AsyncSession,
    provider_id: str,
    items: Sequence[AckItem],
    *,
    source: str,
    now: datetime,
) -> Recorded:
    """Record answers in the caller's transaction, a few statements whatever their number; the
    workflows are told by `conclude`, after the transaction commits."""
    _checked(items, source)
    results: dict[str, AckResult] = {}
    to_signal: list[tuple[str, AckItem]] = []
    facts, prior = await provider_inbox.receipt_facts_and_acknowledgements(
        session, [i.receipt_id for i in items]
    )

    def known(item: AckItem) -> bool:
        fact = facts.get(item.receipt_id)
        return fact is not None and fact.provider_id == provider_id

    for item in items:
        if not known(item):
            results[item.receipt_id] = AckResult(item.receipt_id, AckVerdict.UNKNOWN)
    mine = [item for item in items if known(item)]
    fresh: list[AckItem] = []
    for item in (i for i in mine if i.receipt_id not in prior):
        state = facts[item.receipt_id].state
        if _AGREES_WITH.get(state, item.status) != item.status:
            detail = f"the receipt is already {state}"
            results[item.receipt_id] = AckResult(item.receipt_id, AckVerdict.CONFLICT, detail)
        else:
            fresh.append(item)
    recorded = await provider_inbox.record_acknowledgements(
        session, [_row(i, provider_id, source, now, facts[i.receipt_id].state) for i in fresh]
    )
    awaited: list[AckItem] = []
    for item in (i for i in fresh if i.receipt_id in recorded):
        results[item.receipt_id] = AckResult(item.receipt_id, AckVerdict.RECORDED)
        if facts[item.receipt_id].state not in _AGREES_WITH:  # a workflow waits for it
            awaited.append(item)
    if source in APPLIED_AT_RECEIPT:
        finished = await outcomes.finish_credits(
            session, awaited, now=now, actor=f"provider:{provider_id}"
        )
        awaited = [  # the workflow is told the outcome: it need not record it
            replace(
                i,
                receipt_state=finished[i.receipt_id].receipt_state,
                grant_state=finished[i.receipt_id].grant_state,
            )
            for i in awaited
        ]
    to_signal.extend((facts[i.receipt_id].workflow_id, i) for i in awaited)
    # Answered before (or by a concurrent request that won the insert): compare.
    compared = [i for i in mine if i.receipt_id not in results]
    prior.update(
        await provider_inbox.acknowledgements(
            session, [i.receipt_id for i in compared if i.receipt_id not in prior]
        )
    )
    for item in compared:
        earlier = prior[item.receipt_id]
        if not _same(earlier, item):
            detail = f"the provider already answered {earlier.status}"
            results[item.receipt_id] = AckResult(item.receipt_id, AckVerdict.CONFLICT, detail)
            continue
        results[item.receipt_id] = AckResult(item.receipt_id, AckVerdict.DUPLICATE)
        if earlier.signalled_at is None:  # the first delivery did not happen: try again
            to_signal.append((facts[item.receipt_id].workflow_id, _as_item(earlier)))
    return Recorded([item.receipt_id for item in items], results, to_signal)


async def deliver_recorded(
    ctx: AckContext, provider_id: str, recorded: Recorded
) -> list[AckResult]:
    """Tell the workflows what `record` recorded (its transaction committed); each answer's
    result, in the order given, marked when its workflow could not be told."""
    results = recorded.results
    delivered = await deliver(ctx, recorded.to_signal, provider_id=provider_id)
    for _, item in recorded.to_signal:
        if item.receipt_id not in delivered:
            results[item.receipt_id] = AckResult(
                item.receipt_id, results[item.receipt_id].verdict, delivered=False
            )
    return [results[receipt_id] for receipt_id in recorded.order]


async def acknowledge_many(
    ctx: AckContext, provider_id: str, items: Sequence[AckItem], *, source: str
) -> list[AckResult]:
    """Record and deliver many answers at once: a few statements whatever their number."""
    async with ctx.sessions.begin() as session:
        recorded = await record(session, provider_id, items, source=source, now=ctx.clock())
    return await deliver_recorded(ctx, provider_id, recorded)


def _row(item: AckItem, provider_id: str, source: str, now: datetime, state: str) -> dict[str, Any]:
    """An answer for a receipt that is already final needs no delivery: no workflow waits."""
    return {
        "receipt_id": item.receipt_id,
        "provider_id": provider_id,
        "status": item.status,
        "reason": _clean(item.reason, 200),
        "provider_reference": item.provider_reference,  # an identifier: kept as given
        "source": source,
        "received_at": now,
        "signalled_at": now if state in _AGREES_WITH else None,
    }


def _as_item(row: Any) -> AckItem:
    return AckItem(row.receipt_id, row.status, row.reason, row.provider_reference)


def one_answer(
    receipt_id: str, status: str, reason: str | None, provider_reference: str | None
) -> AckItem:
    """A provider's one answer (webhook, pull API, reconciliation); its status is checked."""
    if status not in ACK_STATUSES:
        raise RuleViolation("validation_error", "status must be credited or rejected", status=422)
    return AckItem(receipt_id, status, reason, provider_reference)


async def record_one(
    session: AsyncSession, provider_id: str, answer: AckItem, *, source: str, now: datetime
) -> Recorded:
    """`record` for one answer; another provider's or an unknown receipt is 404, raised in the
    transaction, so that nothing the caller wrote in it stays (a webhook's message ID)."""
    recorded = await record(session, provider_id, [answer], source=source, now=now)
    if recorded.results[answer.receipt_id].verdict is AckVerdict.UNKNOWN:
        raise RuleViolation("not_found", f"no such credit request: {answer.receipt_id}", status=404)
    return recorded


async def conclude(
    ctx: AckContext, provider_id: str, answer: AckItem, recorded: Recorded
) -> AckResult:
    """After `record_one`'s transaction committed: the workflow told; a contradiction 409 (a
    credit contradicting a recorded rejection settled by the provider's status first), an
    answer recorded but not delivered 503."""
    [result] = await deliver_recorded(ctx, provider_id, recorded)
    receipt_id, status = answer.receipt_id, answer.status
    if (
        result.verdict is AckVerdict.CONFLICT
        and status == "credited"
        and isinstance(ctx, HubContext)
    ):
        # A credit contradicting a recorded rejection: the provider's status settles it (F5).
        settled = await settle_credited_after_rejection(
            ctx, provider_id, receipt_id, answer.provider_reference
        )
        if settled.credited:
            # Told to the workflow every time (it ignores a credit it has): a settlement whose
            # signal did not go out reaches it when the provider sends the answer again.
            item = replace(
                answer, receipt_state=settled.receipt_state, grant_state=settled.grant_state
            )
            assert settled.workflow_id is not None
            told = await deliver(ctx, [(settled.workflow_id, item)], provider_id=provider_id)
            result = AckResult(
                receipt_id,
                AckVerdict.RECORDED if settled.outcome == "credited" else AckVerdict.DUPLICATE,
                delivered=receipt_id in told,
            )
        else:
            result = replace(result, detail=f"{result.detail}; settled: {settled.outcome}")
    if result.verdict is AckVerdict.CONFLICT:
        raise RuleViolation(
            "ack_conflict",
            f"a different acknowledgement was received earlier ({result.detail})",
            status=409,
        )
    if not result.delivered:
        raise RuleViolation(
            "temporal_unavailable",
            "the acknowledgement is recorded but could not be delivered yet; send it again",
            status=503,
        )
    return result


async def acknowledge(
    ctx: AckContext,
    provider_id: str,
    receipt_id: str,
    status: str,
    reason: str | None,
    provider_reference: str | None,
    source: str,
) -> AckResult:
    """One answer, recorded in a transaction of its own and then concluded (`conclude`)."""
    answer = one_answer(receipt_id, status, reason, provider_reference)
    async with ctx.sessions.begin() as session:
        recorded = await record_one(session, provider_id, answer, source=source, now=ctx.clock())
    return await conclude(ctx, provider_id, answer, recorded)


async def deliver(
    ctx: AckContext, answers: Sequence[tuple[str, AckItem]], *, provider_id: str | None = None
) -> set[str]:
    """Signal each answer to its workflow; returns the receipts delivered and marks them in the
    database. An answer whose workflow has ended (failed, terminated, finished) is applied to
    its receipt here, where it was received: no answer is lost for want of a workflow."""
    if not answers:
        return set()
    if orchestration.is_direct(ctx):  # no workflow to tell: applied here
        return await direct_orchestration.apply_answers(ctx, answers, provider_id=provider_id)
    client = ctx.client()
    gate = asyncio.Semaphore(SIGNAL_CONCURRENCY)
    closed: list[AckItem] = []
    ended: set[str] = set()  # workflows that were not there to be told

    async def one(workflow_id: str, item: AckItem) -> str | None:
        async with gate:
            handle = client.get_workflow_handle(workflow_id)
            try:
                await handle.signal(
                    ApplicationWorkflow.acknowledge,
                    Acknowledgement(
                        receipt_id=item.receipt_id,
                        status=item.status,
                        provider_reference=item.provider_reference,
                        reason=item.reason,
                        receipt_state=item.receipt_state,
                        grant_state=item.grant_state,
                    ),
                )
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    log.warning("acknowledgement not delivered yet: %s", error.message)
                    return None
                ended.add(workflow_id)
                if item.receipt_state is None:  # not yet applied where it was received
                    closed.append(item)
            return item.receipt_id

    delivered_ids = await asyncio.gather(*(one(w, i) for w, i in answers))
    delivered = {receipt_id for receipt_id in delivered_ids if receipt_id is not None}
    if delivered:
        async with ctx.sessions.begin() as session:
            if closed:
                actor = f"provider:{provider_id}" if provider_id else "provider"
                await outcomes.finish_credits(session, closed, now=ctx.clock(), actor=actor)
            await provider_inbox.mark_signalled(session, sorted(delivered), ctx.clock())
    queue = hub_queue(ctx)
    if ended and queue is not None:  # the rest of those applications' receipts go on now
        actor = f"provider:{provider_id}" if provider_id else "provider"
        await resume_remaining(ctx, ended, task_queue=queue, actor=actor)
    return delivered


async def redeliver(
    ctx: AckContext, provider_id: str, *, older_than: timedelta, limit: int = 1000
) -> int:
    """Tell the workflows answers recorded and not yet told, oldest first: a crash in between,
    Temporal unreachable, or more than a batch-file round could tell. An answer applied where it
    was received (a result file's row: only the provider's dispatcher tells those) goes at any
    age, with its receipt's outcome as the database has it now, which is what the workflow's
    own step would read (`storage.receipts.finish_credit` on a final receipt); any other goes
    once older than `older_than` (its own request may be telling it still), without one."""
    async with ctx.sessions() as session:
        rows = await provider_inbox.unsignalled(
            session,
            provider_id,
            received_before=ctx.clock() - older_than,
            limit=limit,
            any_age=APPLIED_AT_RECEIPT,
        )
    answers = [(row.workflow_id, _told(row)) for row in rows]
    return len(await deliver(ctx, answers, provider_id=provider_id))


def _told(row: provider_inbox.Unsignalled) -> AckItem:
    item = _as_item(row.answer)
    if row.answer.source in APPLIED_AT_RECEIPT and row.receipt_state in _AGREES_WITH:
        return replace(item, receipt_state=row.receipt_state, grant_state=row.grant_state)
    return item
