"""The `batch_file` dispatcher's activity: one round of writing due request files and ingesting
result files, run on the provider's dispatch queue (`domain.providers.dispatch_queue`).

Annotations are evaluated (no `from __future__ import annotations`): the payload converter
resolves these types inside the workflow sandbox, where string annotations do not resolve.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from temporalio import activity
from temporalio.client import Client

from activities.applications import utcnow
from activities.errors import provider_error
from adapters.providers.contract import PermanentProviderError, TransientProviderError
from adapters.providers.registry import AdapterRegistry
from domain.providers import batch_cutoff_from_config
from hub.settings import Settings, get_settings
from services.acknowledgements import WorkerContext
from services.batches import BatchChannel, dispatch_round
from services.statements import ingest_files
from storage import audit
from storage.catalog import profile_of
from storage.database import SessionFactory
from storage.models import PaymentProvider


@dataclass
class StatementContext:
    """What receiving a statement needs in a worker."""

    sessions: SessionFactory
    clock: Callable[[], datetime]
    settings: Settings


@dataclass
class DispatchInput:
    provider_id: str


@dataclass
class DispatchResult:
    files_written: int = 0
    records_written: int = 0
    result_files: int = 0
    acknowledgements: int = 0
    next_check_s: float = 5.0


class BatchActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        registry: AdapterRegistry,
        client: Client,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.context = WorkerContext(sessions=sessions, temporal=client, clock=clock)
        self.registry = registry

    @activity.defn(name="dispatch_batches")
    async def dispatch_batches(self, request: DispatchInput) -> DispatchResult:
        async with self.context.sessions() as session:
            provider = await session.get(PaymentProvider, request.provider_id)
        try:
            if provider is None or provider.adapter != "batch_file":
                raise PermanentProviderError(f"{request.provider_id} is not a batch_file provider")
            profile = profile_of(provider)
            cutoff = batch_cutoff_from_config(profile.config)
            adapter = self.registry.get(
                profile.provider_id, profile.adapter, profile.config, profile.secrets
            )
            report = await dispatch_round(
                self.context,
                cast(BatchChannel, adapter),
                request.provider_id,
                cutoff,
                heartbeat=activity.heartbeat,
            )
            statements = await ingest_files(
                StatementContext(self.context.sessions, self.context.clock, get_settings()),
                request.provider_id,
                profile.config,
                activity.heartbeat,
            )
        except (TransientProviderError, PermanentProviderError) as error:
            raise provider_error(error) from error
        if report.files_written or report.result_files or statements:
            async with self.context.sessions.begin() as session:
                audit.record(
                    session,
                    actor=f"provider-worker:{request.provider_id}",
                    action="dispatch_batches",
                    object_type="provider",
                    object_id=request.provider_id,
                    outcome=f"written {report.files_written}, read {report.result_files}",
                    detail={
                        "records": report.records_written,
                        "acks": report.acknowledgements,
                        "statements": statements,
                    },
                )
        return DispatchResult(
            files_written=report.files_written,
            records_written=report.records_written,
            result_files=report.result_files,
            acknowledgements=report.acknowledgements,
            next_check_s=report.next_check_s,
        )
