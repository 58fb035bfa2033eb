"""The nightly reconciliation's activity: every provider's previous business day, overdue
statements and days with open breaks, on the hub's task queue (it heartbeats per day).

Annotations are evaluated (no `from __future__ import annotations`): the payload converter
resolves these types inside the workflow sandbox, where string annotations do not resolve.
"""

from dataclasses import asdict, dataclass
from datetime import datetime

from temporalio import activity

from services.reconciliation import nightly
from storage import audit
from storage.database import SessionFactory


@dataclass
class ReconcileInput:
    as_of: str  # ISO time the run stands for (the scheduled time)


@dataclass
class ReconcileResult:
    business_date: str
    providers: int = 0
    days: int = 0
    new_breaks: int = 0
    open_breaks: int = 0


class ReconciliationActivities:
    def __init__(self, sessions: SessionFactory, deadline_days: int, lookback_days: int) -> None:
        self.sessions = sessions
        self.deadline_days = deadline_days
        self.lookback_days = lookback_days

    @activity.defn(name="reconcile_nightly")
    async def reconcile_nightly(self, request: ReconcileInput) -> ReconcileResult:
        now = datetime.fromisoformat(request.as_of)
        summary = await nightly(
            self.sessions,
            now=now,
            deadline_days=self.deadline_days,
            lookback_days=self.lookback_days,
            heartbeat=activity.heartbeat,
        )
        result = ReconcileResult(**asdict(summary))
        async with self.sessions.begin() as session:
            audit.record(
                session,
                actor="workflow",
                action="reconcile_nightly",
                object_type="reconciliation",
                object_id=summary.business_date,
                outcome="breaks" if summary.new_breaks else "ok",
                detail=asdict(summary),
                request_id=activity.info().workflow_id,
            )
        return result
