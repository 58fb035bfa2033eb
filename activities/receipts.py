"""Database units of work for receipts: claiming grants and recording provider answers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.applications import WORKFLOW_ACTOR
from activities.errors import refusals
from activities.types import (
    ClaimReceiptsInput,
    ClaimReceiptsResult,
    LoadOpenReceiptsInput,
    MarkStuckInput,
    MarkStuckResult,
    OpenReceiptsResult,
    OpenReceiptView,
    RecordOutcomeInput,
    RecordOutcomeResult,
    ReturnReceiptInput,
)
from domain.receipts import ReceiptPlan
from storage import applications, audit, receipts
from storage.audit import utcnow
from storage.database import SessionFactory


async def claim(
    session: AsyncSession, request: ClaimReceiptsInput, *, now: datetime
) -> list[ReceiptPlan]:
    """The resident's receipt claim and its audit entry, in the caller's transaction."""
    actor = f"resident:{request.mykey_id}"
    plans = await receipts.request_receipts(
        session,
        mykey_id=request.mykey_id,
        grant_ids=request.grant_ids,
        registration_id=request.registration_id,
        workflow_id=request.workflow_id,
        now=now,
        actor=actor,
        queue_batch=request.queue_batch,
    )
    audit_claim(session, actor, plans)
    return plans


def audit_claim(
    session: AsyncSession, actor: str, plans: list[ReceiptPlan], request_id: str | None = None
) -> None:
    """The audit entry of a receipt claim, in the claim's transaction (under the workflow's ID,
    or the HTTP request's when the API claims)."""
    audit.record(
        session,
        actor=actor,
        request_id=request_id,
        action="claim_receipts",
        object_type="receipt",
        object_id=",".join(p.receipt_id for p in plans),
        outcome=f"claimed {len(plans)}",
    )


async def record_outcome(
    session: AsyncSession, request: RecordOutcomeInput, *, now: datetime
) -> RecordOutcomeResult:
    """A provider's answer recorded on the receipt and its grant, with its audit entry, in the
    caller's transaction: the `record_credit_outcome` step, and the `credit` call itself for a
    run of revision `LEAN` (`workflows/revisions.py`)."""
    actor = request.actor or WORKFLOW_ACTOR
    state, grant_state = await receipts.finish_credit(
        session,
        request.receipt_id,
        status=request.status,
        provider_reference=request.provider_reference,
        reason=request.reason,
        now=now,
        actor=actor,
    )
    audit.record(
        session,
        actor=actor,
        action="record_credit_outcome",
        object_type="receipt",
        object_id=request.receipt_id,
        outcome=state,
        detail={"status": request.status, "reason": request.reason},
    )
    return RecordOutcomeResult(receipt_id=request.receipt_id, state=state, grant_state=grant_state)


class ReceiptActivities:
    def __init__(self, sessions: SessionFactory, clock: Callable[[], datetime] = utcnow) -> None:
        self.sessions = sessions
        self.clock = clock

    @activity.defn(name="claim_receipts")
    async def claim_receipts(self, request: ClaimReceiptsInput) -> ClaimReceiptsResult:
        async with refusals(), self.sessions.begin() as session:
            decision = (
                await applications.load_decision(session, request.load_application_id)
                if request.load_application_id is not None
                else None
            )
            plans = await claim(session, request, now=self.clock())
        return ClaimReceiptsResult(receipts=plans, decision=decision)

    @activity.defn(name="load_open_receipts")
    async def load_open_receipts(self, request: LoadOpenReceiptsInput) -> OpenReceiptsResult:
        async with refusals(), self.sessions() as session:
            decision = await applications.load_decision(session, request.application_id)
            found = await receipts.open_receipts(session, request.application_id)
        return OpenReceiptsResult(
            decision, [OpenReceiptView(r.plan, r.state, r.stuck_reason) for r in found]
        )

    @activity.defn(name="record_credit_outcome")
    async def record_credit_outcome(self, request: RecordOutcomeInput) -> RecordOutcomeResult:
        async with self.sessions.begin() as session:
            return await record_outcome(session, request, now=self.clock())

    @activity.defn(name="mark_receipt_stuck")
    async def mark_receipt_stuck(self, request: MarkStuckInput) -> MarkStuckResult:
        async with self.sessions.begin() as session:
            marked = await receipts.mark_stuck(
                session,
                request.receipt_id,
                reason=request.reason,
                detail=request.detail,
                now=self.clock(),
                actor=WORKFLOW_ACTOR,
                code=request.code,
            )
            audit.record(
                session,
                actor=WORKFLOW_ACTOR,
                action="mark_receipt_stuck",
                object_type="receipt",
                object_id=request.receipt_id,
                outcome=request.reason if marked else "unchanged",
            )
        return MarkStuckResult(receipt_id=request.receipt_id, marked=marked)

    @activity.defn(name="return_receipt")
    async def return_receipt(self, request: ReturnReceiptInput) -> RecordOutcomeResult:
        async with refusals(), self.sessions.begin() as session:
            state, grant_state = await receipts.return_to_unreceived(
                session,
                request.receipt_id,
                now=self.clock(),
                actor=request.actor,
                note=request.note,
                pulls=request.pulls,
            )
            audit.record(
                session,
                actor=request.actor,
                action="return_receipt",
                object_type="receipt",
                object_id=request.receipt_id,
                outcome=state,
                detail={"note": request.note},
            )
        return RecordOutcomeResult(
            receipt_id=request.receipt_id, state=state, grant_state=grant_state
        )
