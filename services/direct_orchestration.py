"""The direct orchestration (`HUB_ORCHESTRATION=direct`, for `mph bench` only, refused in
production): the lifecycle's activity functions called in-process, each receipt carried by an
asyncio task of the process that claimed it; see `services/orchestration.py` for what it leaves
out (durability, timers, reviews, events, support actions)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from temporalio.exceptions import ApplicationError

from activities.types import (
    CreditInput,
    CreditResult,
    MarkStuckInput,
    RecordOutcomeInput,
)
from domain.applications import ApplicationDecision
from domain.errors import RuleViolation
from domain.receipts import ReceiptPlan
from hub.settings import Settings
from services.orchestration import NewApplication, WorkflowLabels
from storage.database import SessionFactory
from storage.models import Application, Measure
from workflows.messages import ClaimedReceipts

if TYPE_CHECKING:
    from activities.measures import MeasureActivities
    from services.acknowledgements import AckItem
    from services.context import HubContext

log = logging.getLogger(__name__)


# ----- direct: in-process calls, not durable ----------------------------------------------------


def unsupported(what: str) -> RuleViolation:
    return RuleViolation(
        "not_supported_in_direct_orchestration",
        f"{what} needs the durable orchestration (HUB_ORCHESTRATION=temporal)",
        status=501,
    )


class DirectOrchestrator:
    """The lifecycle's activity functions called in-process; see the module's docstring."""

    def __init__(
        self,
        sessions: SessionFactory,
        registry: Any,
        clock: Callable[[], datetime],
    ) -> None:
        from activities.providers import ProviderActivities
        from activities.receipts import ReceiptActivities

        self.sessions = sessions
        self.clock = clock
        self.providers = ProviderActivities(sessions, registry, clock)
        self.receipts = ReceiptActivities(sessions, clock)
        self.carriers: set[asyncio.Task[None]] = set()
        self.granting: dict[str, asyncio.Task[None]] = {}  # measure ID -> its grant pass
        self.grant_again: set[str] = set()

    async def apply(self, ctx: HubContext, new: NewApplication) -> ApplicationDecision:
        raise unsupported("an application with review or events")

    async def update_application(
        self, ctx: HubContext, application: Application, update: Any, argument: Any
    ) -> Any:
        raise unsupported(getattr(update, "__name__", "this action"))

    async def carry_receipts(
        self,
        ctx: HubContext,
        application: Application,
        claimed: ClaimedReceipts,
        *,
        labels: WorkflowLabels,
    ) -> None:
        for plan in claimed.receipts:
            if not plan.queued:  # a queued one waits for its result file, nothing to call
                self._carry(plan)

    async def start_measure(
        self, ctx: HubContext, measure: Measure, *, targets_added: bool
    ) -> None:
        """An auto-grant measure's target list granted in batches by a task of this process
        (the measure workflow's `grant_targets` steps); no receipt-deadline expiry."""
        if not measure.auto_grant:
            return
        running = self.granting.get(measure.id)
        if running is not None and not running.done():
            self.grant_again.add(measure.id)  # targets added meanwhile: one more pass after it
            return
        from activities.measures import MeasureActivities

        activities = MeasureActivities(self.sessions, ctx.id_secret, self.clock)
        task = asyncio.create_task(self._grant(activities, measure.id))
        self.granting[measure.id] = task
        task.add_done_callback(self._carried)

    async def _grant(self, activities: MeasureActivities, measure_id: str) -> None:
        from activities.measures import MeasureBatchInput

        again = True
        while again:
            self.grant_again.discard(measure_id)
            cursor = ""
            while True:
                done = await activities.grant_targets(MeasureBatchInput(measure_id, after=cursor))
                cursor = done.cursor
                if not done.more or done.budget_exhausted:
                    break
            again = measure_id in self.grant_again

    # ----- one receipt ---------------------------------------------------------------------

    def _carry(self, plan: ReceiptPlan) -> None:
        task = asyncio.create_task(self.carry(plan))
        self.carriers.add(task)
        task.add_done_callback(self._carried)

    def _carried(self, task: asyncio.Task[None]) -> None:
        self.carriers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a direct task broke: %r", task.exception())

    async def carry(self, plan: ReceiptPlan) -> None:
        """Credit with the provider's retries; the call records what the provider answered
        (credited or rejected now, accepted: the answer comes later, applied where it is
        received), as the workflow's does; a failure is marked stuck."""
        result = await self.credit(plan)
        if result.status in ("credited", "rejected", "accepted") and result.recorded is None:
            await self.receipts.record_credit_outcome(
                RecordOutcomeInput(
                    receipt_id=plan.receipt_id,
                    status=result.status,
                    provider_reference=result.provider_reference,
                    reason=result.reason,
                )
            )
        elif result.status == "failed":
            detail = result.failure.detail if result.failure else None
            code = result.failure.code if result.failure else None
            await self.receipts.mark_receipt_stuck(
                MarkStuckInput(plan.receipt_id, "attempts_exhausted", detail, code)
            )

    async def credit(self, plan: ReceiptPlan) -> CreditResult:
        """The `credit` activity, attempt after attempt under the provider's retry policy."""
        from temporalio.testing import ActivityEnvironment

        retry = plan.policy.retry
        attempts = max(1, retry.max_attempts)
        wait = retry.initial_interval_s
        for attempt in range(1, attempts + 1):
            env = ActivityEnvironment()  # the activity reads its attempt from its context
            env.info = dataclasses.replace(env.info, attempt=attempt, activity_type="credit")
            try:
                result: CreditResult = await env.run(
                    self.providers.credit,
                    CreditInput(plan.receipt_id, plan.provider_id, attempts, record=True),
                )
                return result
            except ApplicationError as transient:
                log.info("credit %s attempt %d: %s", plan.receipt_id, attempt, transient)
            if attempt < attempts:
                await asyncio.sleep(wait)
                wait = min(wait * retry.backoff, retry.max_interval_s)
        return CreditResult(plan.receipt_id, "failed")


async def apply_answers(
    ctx: Any, answers: Sequence[tuple[str, AckItem]], *, provider_id: str | None
) -> set[str]:
    """Direct: every answer is applied where it is received (no workflow to tell); returns the
    receipts done, marked as delivered like a signalled answer."""
    from storage import outcomes, provider_inbox

    if not answers:
        return set()
    actor = f"provider:{provider_id}" if provider_id else "provider"
    unapplied = [item for _, item in answers if item.receipt_state is None]
    done = {item.receipt_id for _, item in answers}
    async with ctx.sessions.begin() as session:
        if unapplied:
            await outcomes.finish_credits(session, unapplied, now=ctx.clock(), actor=actor)
        await provider_inbox.mark_signalled(session, sorted(done), ctx.clock())
    return done


async def run_batch_dispatchers(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Direct: each `batch_file` provider's dispatch rounds in a plain loop (the work of
    `workflows/batch.py`), until `stop` is set."""
    from typing import cast

    from sqlalchemy import select

    from adapters.providers.registry import AdapterRegistry
    from domain.providers import batch_cutoff_from_config
    from services.batches import BatchChannel, dispatch_round
    from storage.audit import utcnow
    from storage.catalog import profile_of
    from storage.database import create_engine, session_factory
    from storage.models import PaymentProvider

    engine = create_engine(settings.effective_database_url, pool_size=settings.database_pool_size)
    sessions = session_factory(engine)
    registry = AdapterRegistry(require_https=settings.is_production)
    context = _DirectWorkerContext(sessions, utcnow, settings)
    stop = stop or asyncio.Event()
    try:
        while not stop.is_set():
            async with sessions() as session:
                found = await session.execute(
                    select(PaymentProvider).where(PaymentProvider.adapter == "batch_file")
                )
                profiles = [profile_of(p) for p in found.scalars()]
            pause = 1.0
            for profile in profiles:
                adapter = registry.get(
                    profile.provider_id, profile.adapter, profile.config, profile.secrets
                )
                cutoff = batch_cutoff_from_config(profile.config)
                try:
                    report = await dispatch_round(
                        context, cast(BatchChannel, adapter), profile.provider_id, cutoff
                    )
                except Exception:  # a round that fails is tried again, as the workflow does
                    log.exception("direct batch round of %s failed", profile.provider_id)
                    continue
                pause = min(pause, max(report.next_check_s, 0.05))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)
    finally:
        await engine.dispose()


@dataclasses.dataclass
class _DirectWorkerContext:
    sessions: SessionFactory
    clock: Callable[[], datetime]
    settings: Settings

    def client(self) -> Any:
        raise RuleViolation("temporal_unavailable", "direct orchestration: no Temporal", status=503)
