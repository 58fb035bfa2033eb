"""The seam between the services and whatever carries an application's lifecycle.

The services ask an `Orchestrator` for the lifecycle's steps: decide an application that needs a
workflow, send an application an update (a receipt request, a support action), start a measure's
workflow, hand providers' answers on. `HUB_ORCHESTRATION` picks one:

- `temporal` (the default, and the only one production accepts): the durable workflows of
  `workflows/`, reached through the Temporal client, exactly as before the seam.
- `direct`: the same activity functions (`activities/`) called in-process, each receipt carried
  by an asyncio task of the process that claimed it: claim, credit through the provider's
  adapter, record the outcome; an answer by webhook, pull or batch file is applied where it is
  received; an auto-grant measure's target list is granted by a task of the process that
  published it. Nothing is durable (a process that stops drops what it carries), there are no
  timers (no acknowledgement deadline, no stuck marks after it, no receipt-deadline expiry), no
  reviews, events, support actions or revocation signals. It exists to measure what the durable
  orchestration costs (`mph bench`, variant `direct`); `hub.settings` refuses it in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from temporalio.client import (
    RPCTimeoutOrCancelledError,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError

from activities.types import (
    ClaimReceiptsInput,
    CreditInput,
    CreditResult,
    MarkStuckInput,
    RecordOutcomeInput,
)
from domain.applications import ApplicationDecision
from domain.errors import RuleViolation
from domain.receipts import ReceiptPlan
from hub.settings import Settings, get_settings
from services.workflow_errors import violation_from
from storage.database import SessionFactory
from storage.models import Application, Measure
from workflows.application import ApplicationWorkflow
from workflows.messages import ApplicationInput, ApplyRequest, ReceiptRequest, ReceiptTicket

if TYPE_CHECKING:
    from activities.measures import MeasureActivities
    from services.acknowledgements import AckItem
    from services.context import HubContext

T = TypeVar("T")
log = logging.getLogger(__name__)

TEMPORAL = "temporal"
DIRECT = "direct"


@dataclasses.dataclass(frozen=True)
class NewApplication:
    """An application the API does not decide itself (review, events): its workflow decides."""

    measure_id: str
    mykey_id: str
    application_id: str
    workflow_id: str
    fixed_registration_id: str | None


class Orchestrator(Protocol):
    """The lifecycle's steps as the services ask for them."""

    async def apply(self, ctx: HubContext, new: NewApplication) -> ApplicationDecision:
        """Decide an application that needs its workflow (review, events)."""
        ...

    async def update_application(
        self, ctx: HubContext, application: Application, update: Any, argument: Any
    ) -> Any:
        """Send an `ApplicationWorkflow` update (by its method) to an application."""
        ...

    async def request_receipt(
        self, ctx: HubContext, application: Application, request: ReceiptRequest
    ) -> ReceiptTicket:
        """Claim the grants' receipts and carry each to its provider."""
        ...

    async def start_measure(
        self, ctx: HubContext, measure: Measure, *, targets_added: bool
    ) -> None:
        """Make sure the measure's own lifecycle runs (auto grants, the receipt deadline)."""
        ...


# ----- choosing ---------------------------------------------------------------------------------


def orchestration_of(settings: Settings | None) -> str:
    return (settings or get_settings()).orchestration


def is_direct(ctx: object) -> bool:
    """Whether this process carries lifecycles itself (`HUB_ORCHESTRATION=direct`)."""
    settings = getattr(ctx, "settings", None)
    return orchestration_of(settings if isinstance(settings, Settings) else None) == DIRECT


_DIRECT: dict[int, tuple[object, DirectOrchestrator]] = {}


def orchestrator(ctx: HubContext) -> Orchestrator:
    """The orchestrator `ctx`'s settings name; a direct one is kept per context (its adapters)."""
    if ctx.settings.orchestration != DIRECT:
        return TEMPORAL_ORCHESTRATOR
    kept = _DIRECT.get(id(ctx))
    if kept is None or kept[0] is not ctx:
        kept = (ctx, DirectOrchestrator(ctx.sessions, ctx.registry, ctx.clock))
        _DIRECT[id(ctx)] = kept
    return kept[1]


# ----- waiting on Temporal with a deadline ------------------------------------------------------


def workflow_unavailable(ctx: HubContext) -> RuleViolation:
    """The answer when a workflow did not answer within `HUB_WORKFLOW_WAIT_S`."""
    return RuleViolation(
        "temporal_unavailable",
        "the workflow service did not answer in time; the request may have been taken, "
        "so look before sending it again",
        status=503,
        retry_after_s=max(1, math.ceil(ctx.settings.workflow_wait_s / 2)),
    )


# Update calls the request stopped waiting for, still running (a task nobody holds is collected).
_KEPT: set[asyncio.Task[Any]] = set()


async def within_deadline(
    ctx: HubContext, call: Coroutine[Any, Any, T], cleanup: Callable[[], None] | None = None
) -> T:
    """`call`'s result, or 503 `temporal_unavailable` once the request has waited
    `HUB_WORKFLOW_WAIT_S` on it.

    The call itself goes on in the background for up to `HUB_WORKFLOW_KEEP_TRYING_S`: until an
    update is accepted into the workflow's history it is not durable, and the SDK re-sends it
    while its caller waits. A request that simply gave up would let the server drop an update
    whose database step (a receipt claim) already committed when the workflow task carrying it
    failed; kept going, the update is delivered again and its step returns the committed result.
    """
    task: asyncio.Task[T] = asyncio.ensure_future(call)
    done, _ = await asyncio.wait({task}, timeout=ctx.settings.workflow_wait_s)
    if done:
        try:
            return task.result()
        except RPCTimeoutOrCancelledError as exc:
            raise workflow_unavailable(ctx) from exc
    _KEPT.add(task)
    cancel = asyncio.get_running_loop().call_later(ctx.settings.workflow_keep_trying_s, task.cancel)

    def finished(kept: asyncio.Task[T]) -> None:
        cancel.cancel()
        _KEPT.discard(kept)
        if cleanup is not None:
            cleanup()
        if not kept.cancelled() and kept.exception() is not None:
            log.info("a workflow call answered after its request: %r", kept.exception())

    task.add_done_callback(finished)
    raise workflow_unavailable(ctx)


# ----- Temporal: the durable workflows ----------------------------------------------------------


class TemporalOrchestrator:
    """Every step through the Temporal client: update-with-start on `ApplicationWorkflow`."""

    async def apply(self, ctx: HubContext, new: NewApplication) -> ApplicationDecision:
        key = ApplicationInput(new.measure_id, new.mykey_id, new.application_id)
        start = _starting(key, new.workflow_id, ctx.settings.task_queue)
        decision: ApplicationDecision = await _update_with_start(
            ctx, ApplicationWorkflow.apply, ApplyRequest(new.fixed_registration_id), start
        )
        return decision

    async def update_application(
        self, ctx: HubContext, application: Application, update: Any, argument: Any
    ) -> Any:
        """Start the workflow from the database when it has none (decided in the request, or
        granted in bulk) or when it has ended; a refused rule comes back as `RuleViolation`, no
        answer within the deadline as 503 `temporal_unavailable`."""
        start = start_existing(application, ctx.settings.task_queue)
        return await _update_with_start(ctx, update, argument, start)

    async def request_receipt(
        self, ctx: HubContext, application: Application, request: ReceiptRequest
    ) -> ReceiptTicket:
        ticket: ReceiptTicket = await self.update_application(
            ctx, application, ApplicationWorkflow.request_receipt, request
        )
        return ticket

    async def start_measure(
        self, ctx: HubContext, measure: Measure, *, targets_added: bool
    ) -> None:
        from services.measures import start_measure_workflow

        await start_measure_workflow(ctx, measure, targets_added=targets_added)


def start_existing(
    application: Application, task_queue: str
) -> WithStartWorkflowOperation[Any, Any]:
    """The start that goes with an update to an application's workflow: the running one, or a
    new run from the database when it has none (decided in the request, granted in bulk) or it
    has ended."""
    key = ApplicationInput(
        application.measure_id, application.mykey_id, application.id, existing=True
    )
    return _starting(key, application.workflow_id, task_queue)


def _starting(
    start: ApplicationInput, workflow_id: str, task_queue: str
) -> WithStartWorkflowOperation[Any, Any]:
    """The application's workflow, started unless it runs; a refused application ends its
    workflow, and the resident may apply again later (so may an ended one be started again)."""
    return WithStartWorkflowOperation(
        ApplicationWorkflow.run,
        start,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )


async def _update_with_start(
    ctx: HubContext, update: Any, argument: Any, start: WithStartWorkflowOperation[Any, Any]
) -> Any:
    """The update's answer within the deadline; a refused rule as `RuleViolation`."""

    def read_start_error() -> None:
        # A call given up at last leaves its error in the start operation's handle too, which
        # nobody reads (asyncio would log it as never retrieved).
        handle = getattr(start, "_workflow_handle", None)
        if isinstance(handle, asyncio.Future) and handle.done() and not handle.cancelled():
            handle.exception()

    try:
        return await within_deadline(
            ctx,
            ctx.client().execute_update_with_start_workflow(
                update, argument, start_workflow_operation=start
            ),
            read_start_error,
        )
    except WorkflowUpdateFailedError as error:
        violation = violation_from(error)
        if violation is None:
            raise
        raise violation from error


TEMPORAL_ORCHESTRATOR = TemporalOrchestrator()


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
        if update is ApplicationWorkflow.request_receipt:
            return await self.request_receipt(ctx, application, argument)
        raise unsupported(getattr(update, "__name__", "this action"))

    async def request_receipt(
        self, ctx: HubContext, application: Application, request: ReceiptRequest
    ) -> ReceiptTicket:
        from activities.receipts import claim

        async with self.sessions.begin() as session:  # a refused rule: `RuleViolation`
            plans = await claim(
                session,
                ClaimReceiptsInput(
                    mykey_id=application.mykey_id,
                    grant_ids=list(request.grant_ids),
                    registration_id=request.registration_id,
                    workflow_id=application.workflow_id,
                    queue_batch=True,
                ),
                now=self.clock(),
            )
        for plan in plans:
            if not plan.queued:  # a queued one waits for its result file, nothing to call
                self._carry(plan)
        return ReceiptTicket(receipts=plans)

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
        """Credit with the provider's retries, then record what it answered: credited or
        rejected now, accepted (the answer comes later, applied where it is received), or failed
        (marked stuck)."""
        result = await self.credit(plan)
        if result.status in ("credited", "rejected", "accepted"):
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
                    CreditInput(plan.receipt_id, plan.provider_id, attempts),
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
