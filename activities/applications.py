"""Database units of work of the application workflow, run as local activities."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.errors import refusals
from activities.types import (
    ApplicationDecision,
    DecideApplicationInput,
    ExpireGrantsInput,
    ExpireGrantsResult,
    ForfeitGrantsInput,
    ForfeitGrantsResult,
    LoadApplicationInput,
)
from domain.reviews import ReviewPolicy
from storage import applications, audit, receipts, reviews
from storage.database import SessionFactory
from storage.models import Measure

WORKFLOW_ACTOR = "workflow"


def utcnow() -> datetime:
    return datetime.now(UTC)


async def decide(
    session: AsyncSession,
    request: DecideApplicationInput,
    *,
    now: datetime,
    policy: ReviewPolicy | None = None,
    actor: str = WORKFLOW_ACTOR,
    request_id: str | None = None,
    rerun: bool = True,
    measure: Measure | None = None,
) -> ApplicationDecision:
    """The application's decision and its audit entry, in the caller's transaction.

    The workflow's `decide_application` step calls it as `workflow`; the API decides an
    application that needs no review itself, as `resident:<MyKey ID>` with the request's ID
    (`services/applications.py`). Either way the same rules, ledger line and audit entry.
    """

    def audited(decision: ApplicationDecision) -> None:
        audit.record(
            session,
            actor=actor,
            action="decide_application",
            object_type="application",
            object_id=request.application_id,
            outcome=decision.status,
            request_id=request_id,
        )

    # The entry is added before the budget's update, the decision's last statement.
    return await applications.apply(
        session,
        measure_id=request.measure_id,
        mykey_id=request.mykey_id,
        application_id=request.application_id,
        workflow_id=request.workflow_id,
        fixed_registration_id=request.fixed_registration_id,
        now=now,
        actor=actor,
        review_policy=policy,
        rerun=rerun,
        with_decision=audited,
        measure=measure,
    )


class ApplicationActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        clock: Callable[[], datetime] = utcnow,
        review_policy: ReviewPolicy | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.review_policy = review_policy or ReviewPolicy()

    @activity.defn(name="decide_application")
    async def decide_application(self, request: DecideApplicationInput) -> ApplicationDecision:
        async with refusals(), self.sessions.begin() as session:
            return await decide(session, request, now=self.clock(), policy=self.review_policy)

    @activity.defn(name="load_application")
    async def load_application(self, request: LoadApplicationInput) -> ApplicationDecision:
        async with refusals(), self.sessions() as session:
            return await applications.load_decision(session, request.application_id)

    @activity.defn(name="expire_grants")
    async def expire_grants(self, request: ExpireGrantsInput) -> ExpireGrantsResult:
        async with self.sessions.begin() as session:
            expired = await applications.expire_unreceived(
                session,
                application_id=request.application_id,
                now=self.clock(),
                actor=WORKFLOW_ACTOR,
            )
            audit.record(
                session,
                actor=WORKFLOW_ACTOR,
                action="expire_grants",
                object_type="application",
                object_id=request.application_id,
                outcome=f"expired {len(expired)}",
            )
        return ExpireGrantsResult(expired_grant_ids=expired)

    @activity.defn(name="forfeit_grants")
    async def forfeit_grants(self, request: ForfeitGrantsInput) -> ForfeitGrantsResult:
        """Forfeit this application's open grants; report every grant of it now forfeited,
        including those the revocation service forfeited before the signal arrived."""
        async with self.sessions.begin() as session:
            await receipts.forfeit_open_grants(
                session,
                mykey_id=request.mykey_id,
                application_id=request.application_id,
                now=self.clock(),
                actor=WORKFLOW_ACTOR,
            )
            await reviews.close_pending(
                session,
                request.application_id,
                reason="MyKey ID revoked",
                actor=WORKFLOW_ACTOR,
                now=self.clock(),
            )
            grants = await applications.grants_of(session, request.application_id)
            audit.record(
                session,
                actor=WORKFLOW_ACTOR,
                action="forfeit_grants",
                object_type="application",
                object_id=request.application_id,
                outcome="forfeited",
            )
        return ForfeitGrantsResult(
            forfeited_grant_ids=[g.grant_id for g in grants if g.state == "forfeited"]
        )
