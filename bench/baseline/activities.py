"""The baseline's activities: one regular activity per step, each the same `storage/` unit of
work or adapter call the hub makes for that step, with the same audit entry in the same
transaction (`storage/audit.py`).

Refusals and provider failures leave as the hub's activities send them (`activities/errors.py`),
so residents get the same problem details from either orchestration.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.client import Client

from activities import applications as application_units
from activities import receipts as receipt_units
from activities.batches import DispatchInput, DispatchResult
from activities.errors import provider_error, refusals
from activities.types import (
    ApplicationDecision,
    ClaimReceiptsInput,
    ClaimReceiptsResult,
    CreditInput,
    CreditResult,
    DecideApplicationInput,
    ExpireGrantsInput,
    ExpireGrantsResult,
    LoadApplicationInput,
    RecordOutcomeInput,
    RecordOutcomeResult,
)
from adapters.providers.contract import (
    CreditRequest,
    PermanentProviderError,
    ProviderAdapter,
    TransientProviderError,
)
from adapters.providers.registry import AdapterRegistry
from bench.baseline.messages import TargetOfMeasure, TargetPage, TargetPageInput
from domain.identifiers import application_key
from domain.providers import batch_cutoff_from_config
from domain.receipts import TERMINAL_RECEIPT_STATES
from services.acknowledgements import WorkerContext
from services.batches import BatchChannel, dispatch_round
from storage import applications, audit, batches, receipts
from storage.catalog import profile_of
from storage.database import SessionFactory
from storage.models import MeasureTarget, PaymentProvider

ACTOR = "workflow"
_FINAL = {s.value for s in TERMINAL_RECEIPT_STATES}


def _now() -> datetime:
    return datetime.now(UTC)


class BaselineActivities:
    def __init__(
        self, sessions: SessionFactory, registry: AdapterRegistry, client: Client, id_secret: bytes
    ) -> None:
        self.sessions = sessions
        self.registry = registry
        self.id_secret = id_secret
        self.context = WorkerContext(sessions=sessions, temporal=client, clock=_now)

    def all(self) -> list[Any]:
        return [
            self.decide,
            self.load,
            self.claim,
            self.credit,
            self.record,
            self.expire,
            self.target_page,
            self.dispatch,
        ]

    @staticmethod
    def _audit(session: AsyncSession, action: str, receipt_id: str, outcome: str) -> None:
        audit.record(
            session,
            actor=ACTOR,
            action=action,
            object_type="receipt",
            object_id=receipt_id,
            outcome=outcome,
        )

    async def _adapter(self, provider_id: str) -> tuple[ProviderAdapter, PaymentProvider]:
        async with self.sessions() as session:
            provider = await session.get(PaymentProvider, provider_id)
        if provider is None:
            raise PermanentProviderError(f"unknown provider {provider_id}")
        profile = profile_of(provider)
        adapter = self.registry.get(
            profile.provider_id, profile.adapter, profile.config, profile.secrets
        )
        return adapter, provider

    @activity.defn(name="baseline_decide")
    async def decide(self, request: DecideApplicationInput) -> ApplicationDecision:
        async with refusals(), self.sessions.begin() as session:
            return await application_units.decide(session, request, now=_now())

    @activity.defn(name="baseline_load")
    async def load(self, request: LoadApplicationInput) -> ApplicationDecision:
        async with refusals(), self.sessions() as session:
            return await applications.load_decision(session, request.application_id)

    @activity.defn(name="baseline_claim")
    async def claim(self, request: ClaimReceiptsInput) -> ClaimReceiptsResult:
        async with refusals(), self.sessions.begin() as session:
            plans = await receipt_units.claim(session, request, now=_now())
        return ClaimReceiptsResult(receipts=plans)

    @activity.defn(name="baseline_credit")
    async def credit(self, request: CreditInput) -> CreditResult:
        attempt = activity.info().attempt
        async with self.sessions.begin() as session:
            receipt = await receipts.begin_credit(
                session, request.receipt_id, attempt=attempt, now=_now(), actor=ACTOR
            )
            self._audit(session, "begin_credit", request.receipt_id, receipt.state)
            if receipt.state in _FINAL:
                return CreditResult(receipt.id, receipt.state, receipt.provider_reference)
            credit = CreditRequest(
                receipt_id=receipt.id,
                account_id=receipt.account_id,
                points=receipt.points,
                measure_id=receipt.measure_id,
                municipality_code=receipt.municipality_code,
            )
        try:
            adapter, _ = await self._adapter(request.provider_id)
            outcome = await adapter.credit(credit)
            status = outcome.status
            if status == "queued":  # batch file: the next file carries it
                async with self.sessions.begin() as session:
                    await batches.enqueue(
                        session,
                        receipt_id=request.receipt_id,
                        provider_id=request.provider_id,
                        now=_now(),
                    )  # audited by `enqueue`
                status = "accepted"
        except (TransientProviderError, PermanentProviderError) as error:
            async with self.sessions.begin() as session:
                await receipts.note_failure(
                    session, request.receipt_id, attempt=attempt, error=str(error), now=_now()
                )
                self._audit(
                    session, "credit_attempt_failed", request.receipt_id, type(error).__name__
                )
            raise provider_error(error) from error
        return CreditResult(request.receipt_id, status, outcome.provider_reference, outcome.reason)

    @activity.defn(name="baseline_record")
    async def record(self, request: RecordOutcomeInput) -> RecordOutcomeResult:
        async with self.sessions.begin() as session:
            return await receipt_units.record_outcome(
                session, dataclasses.replace(request, actor=ACTOR), now=_now()
            )

    @activity.defn(name="baseline_expire")
    async def expire(self, request: ExpireGrantsInput) -> ExpireGrantsResult:
        async with self.sessions.begin() as session:
            expired = await applications.expire_unreceived(
                session, application_id=request.application_id, now=_now(), actor=ACTOR
            )
            audit.record(
                session,
                actor=ACTOR,
                action="expire_grants",
                object_type="application",
                object_id=request.application_id,
                outcome=f"expired {len(expired)}",
            )
        return ExpireGrantsResult(expired_grant_ids=expired)

    @activity.defn(name="baseline_target_page")
    async def target_page(self, request: TargetPageInput) -> TargetPage:
        """A page of the target list after the cursor, with each target's workflow ID."""
        query = (
            select(MeasureTarget.mykey_id)
            .where(
                MeasureTarget.measure_id == request.measure_id,
                MeasureTarget.mykey_id > request.after,
            )
            .order_by(MeasureTarget.mykey_id)
            .limit(request.limit)
        )
        async with self.sessions() as session:
            mykey_ids = list((await session.execute(query)).scalars())
        page = TargetPage(cursor=mykey_ids[-1] if mykey_ids else request.after)
        for mykey_id in mykey_ids:
            key = application_key(request.measure_id, mykey_id, self.id_secret)
            page.targets.append(
                TargetOfMeasure(mykey_id, f"app_{key}", f"application-{request.measure_id}-{key}")
            )
        return page

    @activity.defn(name="baseline_dispatch")
    async def dispatch(self, request: DispatchInput) -> DispatchResult:
        try:
            adapter, provider = await self._adapter(request.provider_id)
            report = await dispatch_round(
                self.context,
                cast(BatchChannel, adapter),
                request.provider_id,
                batch_cutoff_from_config(dict(provider.config)),
                heartbeat=activity.heartbeat,
            )
        except (TransientProviderError, PermanentProviderError) as error:
            raise provider_error(error) from error
        return DispatchResult(
            files_written=report.files_written,
            records_written=report.records_written,
            result_files=report.result_files,
            acknowledgements=report.acknowledgements,
            next_check_s=report.next_check_s,
        )
