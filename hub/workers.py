"""Composition of the hub's Temporal workers: the hub queue and one queue per provider.

Workflows and their database local activities run on the hub queue. Provider calls run on
`provider-<id>` queues, each worker limited to that provider's rate (`rate_limit_per_s`, enforced
by the server for the whole queue), so an outage or a slow provider only ever holds its own queue.
A batch-file provider's dispatcher, its workflow and its rounds, runs on `dispatch-<id>`, served
wherever that provider's queue is (or by a worker asked for it by name, or `dispatch-*`): a wave
of receipts fills the hub's queue and the provider's with tasks a round must not wait behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import (
    Interceptor,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.applications import ApplicationActivities
from activities.attendance import AttendanceActivities
from activities.batches import BatchActivities
from activities.measures import MeasureActivities
from activities.provider_status import ProviderStatusActivities
from activities.providers import ProviderActivities
from activities.receipts import ReceiptActivities
from activities.reconciliation import ReconciliationActivities
from adapters.providers.registry import AdapterRegistry
from domain.providers import dispatch_queue, provider_queue
from domain.reviews import ReviewPolicy
from hub.audit_sealer import run_sealer
from hub.search_attributes import ensure_search_attributes
from hub.settings import DEFAULT_CACHED_WORKFLOWS, get_settings
from services.acknowledgements import WorkerContext
from services.batches import ensure_dispatcher
from services.reconciliation_schedule import ensure_schedule
from services.resumption import SWEEP_AGE, sweep_lost_claims
from storage.audit import utcnow
from storage.catalog import all_providers, profile_of
from storage.database import SessionFactory
from storage.identity import purge_spent_challenges
from workflows.application import ApplicationWorkflow
from workflows.batch import BatchDispatcherWorkflow
from workflows.measure import MeasureWorkflow
from workflows.reconciliation import NightlyReconciliationWorkflow

log = logging.getLogger(__name__)

_GRACE = timedelta(seconds=20)
_PURGE_BATCH = 5000

WORKFLOWS: list[type] = [
    ApplicationWorkflow,
    BatchDispatcherWorkflow,
    MeasureWorkflow,
    NightlyReconciliationWorkflow,
]
PASSTHROUGH = (
    "hub.payloads",
    "domain",
    "activities",
    "workflows.messages",
    "adapters",
    "storage",
    "pydantic",
    "sqlalchemy",
    "httpx",
)


def workflow_runner(sandboxed: bool) -> WorkflowRunner:
    if not sandboxed:
        return UnsandboxedWorkflowRunner()
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )


@dataclass
class WorkerOptions:
    task_queue: str = "hub"
    sandboxed: bool = True
    provider_refresh_s: float = 5.0
    max_cached_workflows: int = DEFAULT_CACHED_WORKFLOWS
    max_concurrent_activities: int = 200
    max_concurrent_local_activities: int = 200
    interceptors: Sequence[Interceptor] = field(default_factory=tuple)
    graceful_shutdown: timedelta = _GRACE  # in-flight activities finish or hand back
    id_secret: bytes | None = None  # derives application IDs; None: HUB_TOKEN_SECRET
    review_policy: ReviewPolicy = field(default_factory=ReviewPolicy)
    attendance_grace: timedelta = timedelta(hours=2)
    audit_key: bytes | None = None  # seals the audit log; None: HUB_AUDIT_HMAC_KEY
    audit_seal_interval_s: float = 1.0
    challenge_purge_s: float = 60.0  # spent login challenges past their expiry are forgotten
    reconciliation_cron: str | None = None  # the nightly schedule; None: HUB_RECONCILIATION_*
    claim_sweep_s: float = 300.0  # how often open receipts no workflow carries are looked for
    claim_sweep_age: timedelta = SWEEP_AGE  # ... among those untouched for this long


class HubWorkers:
    """Runs the hub worker and a worker per provider; picks up providers added later."""

    def __init__(
        self,
        client: Client,
        sessions: SessionFactory,
        registry: AdapterRegistry,
        options: WorkerOptions,
        *,
        queues: Sequence[str] | None = None,
    ) -> None:
        self.client = client
        self.sessions = sessions
        self.registry = registry
        self.options = options
        self.queues = set(queues) if queues else None  # None: every queue
        self.applications = ApplicationActivities(sessions, review_policy=options.review_policy)
        self.attendance = AttendanceActivities(
            sessions, options.review_policy, options.attendance_grace
        )
        secret = options.id_secret or get_settings().token_secret.get_secret_value().encode()
        self.measures = MeasureActivities(sessions, secret)
        self.receipts = ReceiptActivities(sessions)
        self.providers = ProviderActivities(sessions, registry)
        self.batches = BatchActivities(sessions, registry, client)
        # A result file's answer for an ended workflow resumes its application on this queue.
        self.batches.context.task_queue = options.task_queue
        self.provider_status = ProviderStatusActivities(self.providers)
        settings = get_settings()
        self.reconciliation = ReconciliationActivities(
            sessions,
            settings.statement_deadline_business_days,
            settings.reconciliation_lookback_business_days,
        )
        self._provider_workers: dict[str, tuple[float, Worker, asyncio.Task[None]]] = {}
        self._dispatch_workers: dict[str, tuple[Worker, asyncio.Task[None]]] = {}
        self._hub_worker: Worker | None = None

    def _wants(self, queue: str) -> bool:
        return (
            self.queues is None
            or queue in self.queues
            or (queue.startswith("provider-") and "provider-*" in self.queues)
            or (queue.startswith("dispatch-") and "dispatch-*" in self.queues)
        )

    def _wants_dispatch(self, provider_id: str) -> bool:
        """A dispatcher is served where its provider's queue is, or where it is asked for."""
        return self._wants(dispatch_queue(provider_id)) or self._wants(provider_queue(provider_id))

    def hub_worker(self) -> Worker:
        return Worker(
            self.client,
            task_queue=self.options.task_queue,
            workflows=WORKFLOWS,
            activities=[
                self.applications.decide_application,
                self.applications.load_application,
                self.applications.expire_grants,
                self.applications.forfeit_grants,
                self.measures.grant_targets,
                self.measures.expire_measure_grants,
                self.receipts.claim_receipts,
                self.receipts.record_credit_outcome,
                self.receipts.mark_receipt_stuck,
                self.receipts.return_receipt,
                self.receipts.load_open_receipts,
                self.attendance.record_attendance,
                self.attendance.decide_review,
                self.attendance.remind_review,
                self.reconciliation.reconcile_nightly,
            ],
            workflow_runner=workflow_runner(self.options.sandboxed),
            max_cached_workflows=self.options.max_cached_workflows,
            max_concurrent_local_activities=self.options.max_concurrent_local_activities,
            interceptors=list(self.options.interceptors),
            graceful_shutdown_timeout=self.options.graceful_shutdown,
        )

    def provider_worker(self, provider_id: str, rate_limit_per_s: float) -> Worker:
        return Worker(
            self.client,
            task_queue=provider_queue(provider_id),
            activities=[
                self.providers.credit,
                self.provider_status.credit_status,
                self.batches.dispatch_batches,
            ],
            max_concurrent_activities=self.options.max_concurrent_activities,
            max_task_queue_activities_per_second=rate_limit_per_s,
            interceptors=list(self.options.interceptors),
            graceful_shutdown_timeout=self.options.graceful_shutdown,
        )

    def dispatch_worker(self, provider_id: str) -> Worker:
        """The provider's dispatcher workflow and its rounds; no rate limit: a round reads and
        writes files, it makes no call the provider counts."""
        return Worker(
            self.client,
            task_queue=dispatch_queue(provider_id),
            workflows=[BatchDispatcherWorkflow],
            activities=[self.batches.dispatch_batches],
            workflow_runner=workflow_runner(self.options.sandboxed),
            max_cached_workflows=min(10, self.options.max_cached_workflows),
            interceptors=list(self.options.interceptors),
            graceful_shutdown_timeout=self.options.graceful_shutdown,
        )

    async def refresh_providers(self) -> None:
        async with self.sessions() as session:
            providers = [profile_of(p) for p in await all_providers(session)]
        for profile in providers:
            if profile.adapter == "batch_file":
                await self._keep_dispatcher(profile.provider_id)
            queue = provider_queue(profile.provider_id)
            if not self._wants(queue):
                continue
            rate = profile.policy.rate_limit_per_s
            running = self._provider_workers.get(profile.provider_id)
            if running is not None and running[0] == rate:
                continue
            if running is not None:  # the rate changed: restart with the new limit
                await running[1].shutdown()
            worker = self.provider_worker(profile.provider_id, rate)
            task = asyncio.create_task(worker.run(), name=f"worker-{queue}")
            self._provider_workers[profile.provider_id] = (rate, worker, task)
            log.info("provider worker started", extra={"queue": queue, "rate": rate})

    async def _keep_dispatcher(self, provider_id: str) -> None:
        """A batch-file provider's dispatcher gathers credits into files: its worker, once, and
        its workflow, started again at every refresh if it ended (an operator terminated it)."""
        if not self._wants_dispatch(provider_id):
            return
        if provider_id not in self._dispatch_workers:
            worker = self.dispatch_worker(provider_id)
            task = asyncio.create_task(worker.run(), name=f"worker-{dispatch_queue(provider_id)}")
            self._dispatch_workers[provider_id] = (worker, task)
            log.info("dispatch worker started", extra={"queue": dispatch_queue(provider_id)})
        try:
            await ensure_dispatcher(self.client, provider_id)
        except RPCError as error:  # Temporal unreachable for now: the next refresh tries again
            log.warning("batch dispatcher not ensured: %s", error.message)

    async def run(self, stop: asyncio.Event) -> None:
        tasks: list[asyncio.Task[None]] = []
        await ensure_search_attributes(self.client)
        if self._wants(self.options.task_queue):
            self._hub_worker = self.hub_worker()
            tasks.append(asyncio.create_task(self._hub_worker.run(), name="worker-hub"))
            tasks.append(asyncio.create_task(self._seal_audit(stop), name="audit-sealer"))
            tasks.append(asyncio.create_task(self._purge_challenges(stop), name="challenges"))
            tasks.append(asyncio.create_task(self._sweep_lost_claims(stop), name="claim-sweep"))
            settings = get_settings()
            cron = self.options.reconciliation_cron or settings.reconciliation_cron
            if settings.reconciliation_schedule:
                await self._keep_schedule(cron)
        try:
            while not stop.is_set():
                await self.refresh_providers()
                running = [
                    *tasks,
                    *(t for _, _, t in self._provider_workers.values()),
                    *(t for _, t in self._dispatch_workers.values()),
                ]
                for task in running:
                    if task.done() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.options.provider_refresh_s)
        finally:
            await self.shutdown()

    async def _keep_schedule(self, cron: str) -> None:
        """The nightly reconciliation's schedule; a server without schedules (the time-skipping
        test server) leaves the worker running, with the reason logged."""
        try:
            await ensure_schedule(self.client, self.options.task_queue, cron)
        except RPCError as error:
            log.warning("reconciliation schedule not kept: %s", error.message)

    async def _seal_audit(self, stop: asyncio.Event) -> None:
        key = self.options.audit_key or get_settings().audit_hmac_key.get_secret_value().encode()
        await run_sealer(self.sessions, key, stop, interval_s=self.options.audit_seal_interval_s)

    async def _purge_challenges(self, stop: asyncio.Event) -> None:
        """Spent challenges are recorded only until they expire (`domain/challenges.py`)."""
        while not stop.is_set():
            try:
                purged = 0
                while True:
                    async with self.sessions.begin() as session:
                        batch = await purge_spent_challenges(
                            session, now=datetime.now(UTC), limit=_PURGE_BATCH
                        )
                    purged += batch
                    if batch < _PURGE_BATCH or stop.is_set():
                        break
                if purged:
                    log.info("spent challenges purged", extra={"purged": purged})
            except Exception:
                log.exception("purging spent challenges failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.options.challenge_purge_s)

    async def _sweep_lost_claims(self, stop: asyncio.Event) -> None:
        """Every `claim_sweep_s`: open receipts whose workflow ended or does not carry them are
        resumed (`services/resumption.py`); each sweep goes on where the last one stopped."""
        ctx = WorkerContext(self.sessions, self.client, utcnow, self.options.task_queue)
        after: str | None = None
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.options.claim_sweep_s)
            if stop.is_set():
                return
            try:
                report = await sweep_lost_claims(
                    ctx,
                    task_queue=self.options.task_queue,
                    older_than=self.options.claim_sweep_age,
                    after=after,
                )
            except Exception:
                log.exception("sweeping lost claims failed; retrying")
                continue
            after = report.last_application_id
            if report.resumed:
                log.warning("open receipts resumed by the sweep", extra={"resumed": report.resumed})

    async def shutdown(self) -> None:
        """Graceful: running activities get the grace period to finish or hand back."""
        workers = [w for _, w, _ in self._provider_workers.values()]
        workers += [w for w, _ in self._dispatch_workers.values()]
        if self._hub_worker is not None:
            workers.append(self._hub_worker)
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        self._provider_workers.clear()
        self._dispatch_workers.clear()
        self._hub_worker = None
