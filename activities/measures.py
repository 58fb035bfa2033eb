"""Database units of work of the measure workflow: bulk grants and expiry, one batch a call.

Annotations are evaluated (no `from __future__ import annotations`): these dataclasses cross the
workflow boundary, and the payload converter resolves them inside the workflow sandbox.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from temporalio import activity

from domain.identifiers import application_key
from storage import audit, bulk_grants
from storage.audit import utcnow
from storage.database import SessionFactory

WORKFLOW_ACTOR = "workflow:measure"


@dataclass
class MeasureBatchInput:
    measure_id: str
    batch_size: int = 1000
    # The workflow's time: the workflow decides when the deadline has passed (its timer), so
    # the batch judges the deadline by the same clock. None: the activity's own clock.
    now: datetime | None = None
    after: str = ""  # grant_targets: start after this MyKey ID (the previous batch's cursor)


@dataclass
class MeasureBatchResult:
    count: int  # grants made (grant_targets) or expired (expire_measure_grants)
    points: int
    more: bool
    budget_exhausted: bool = False
    cursor: str = ""  # grant_targets: the last MyKey ID this batch looked at


class MeasureActivities:
    """`id_secret` derives application and workflow IDs exactly as a resident's own
    application does (`services.applications.application_ids`), so an auto-granted application
    and its later receipt requests share one business key."""

    def __init__(
        self,
        sessions: SessionFactory,
        id_secret: bytes,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.id_secret = id_secret
        self.clock = clock

    def application_ids(self, measure_id: str, mykey_id: str) -> tuple[str, str]:
        key = application_key(measure_id, mykey_id, self.id_secret)
        return f"app_{key}", f"application-{measure_id}-{key}"

    @activity.defn(name="grant_targets")
    async def grant_targets(self, request: MeasureBatchInput) -> MeasureBatchResult:
        async with self.sessions.begin() as session:
            outcome = await bulk_grants.grant_targets(
                session,
                measure_id=request.measure_id,
                ids_for=self.application_ids,
                limit=request.batch_size,
                now=request.now or self.clock(),
                actor=WORKFLOW_ACTOR,
                after=request.after,
            )
            audit.record(
                session,
                actor=WORKFLOW_ACTOR,
                action="grant_targets",
                object_type="measure",
                object_id=request.measure_id,
                outcome=f"granted {outcome.granted}",
                detail={"points": outcome.points, "cursor": outcome.cursor},
            )
        return MeasureBatchResult(
            outcome.granted, outcome.points, outcome.more, outcome.budget_exhausted, outcome.cursor
        )

    @activity.defn(name="expire_measure_grants")
    async def expire_measure_grants(self, request: MeasureBatchInput) -> MeasureBatchResult:
        async with self.sessions.begin() as session:
            outcome = await bulk_grants.expire_measure_grants(
                session,
                measure_id=request.measure_id,
                limit=request.batch_size,
                now=request.now or self.clock(),
                actor=WORKFLOW_ACTOR,
            )
            audit.record(
                session,
                actor=WORKFLOW_ACTOR,
                action="expire_measure_grants",
                object_type="measure",
                object_id=request.measure_id,
                outcome=f"expired {outcome.granted}",
                detail={"points": outcome.points},
            )
        return MeasureBatchResult(outcome.granted, outcome.points, outcome.more)
