"""Provider calls, run as activities on each provider's own task queue."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from temporalio import activity

from activities.errors import provider_error
from activities.receipts import record_outcome
from activities.types import CreditInput, CreditResult, RecordOutcomeInput
from adapters.providers.contract import (
    CreditOutcome,
    CreditRequest,
    PermanentProviderError,
    ProviderAdapter,
    TransientProviderError,
)
from adapters.providers.registry import AdapterRegistry
from domain.provider_errors import ProviderFailure, classify, failure
from domain.receipts import TERMINAL_RECEIPT_STATES
from services import provider_pause
from storage import audit, batches, receipts
from storage.audit import utcnow
from storage.catalog import profile_of
from storage.database import SessionFactory
from storage.models import PaymentProvider

PROFILE_TTL_S = 5.0
# The answers a credit call records itself when asked (`CreditInput.record`).
RECORDED_ANSWERS = frozenset({"credited", "rejected", "accepted"})


class ProviderActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        registry: AdapterRegistry,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.registry = registry
        self.clock = clock
        self._profiles: dict[str, tuple[float, ProviderAdapter]] = {}
        self._styles: dict[str, str] = {}  # provider ID -> adapter style, for `classify`

    async def adapter_for(self, provider_id: str) -> ProviderAdapter:
        cached = self._profiles.get(provider_id)
        if cached is not None and time.monotonic() - cached[0] < PROFILE_TTL_S:
            return cached[1]
        async with self.sessions() as session:
            provider = await session.get(PaymentProvider, provider_id)
        if provider is None:
            raise PermanentProviderError(f"unknown provider {provider_id}")
        profile = profile_of(provider)
        adapter = self.registry.get(
            profile.provider_id, profile.adapter, profile.config, profile.secrets
        )
        self._profiles[provider_id] = (time.monotonic(), adapter)
        self._styles[provider_id] = profile.adapter
        return adapter

    def classify(self, provider_id: str, error: BaseException) -> ProviderFailure:
        return classify(self._styles.get(provider_id, "unknown"), error)

    async def note_outcome(self, provider_id: str, found: ProviderFailure | None) -> bool:
        """Tell the provider's pause book how a call went; True when the provider is paused."""
        async with self.sessions.begin() as session:
            if found is None:
                await provider_pause.record_success(session, provider_id)
                return False
            return await provider_pause.record_failure(
                session, provider_id, found, now=self.clock()
            )

    @activity.defn(name="credit")
    async def credit(self, request: CreditInput) -> CreditResult:
        """Credit one receipt; the receipt ID is the idempotency key, so retries are safe.

        A transient failure is raised for Temporal to retry under the provider's policy; the
        last attempt's failure, a permanent one and a paused provider come back as data
        (`CreditResult.failure`): the workflow decides, nothing fails it."""
        attempt = activity.info().attempt
        async with self.sessions.begin() as session:
            # The receipt and the provider's pause book in one read (`credit_standing`).
            read, book = await receipts.credit_standing(
                session, request.receipt_id, request.provider_id
            )
            paused, failing = (
                provider_pause.standing_of(book)
                if read is not None
                else await provider_pause.standing(session, request.provider_id)
            )
            if paused:
                return CreditResult(
                    request.receipt_id,
                    "failed",
                    failure=failure("provider_paused", "the provider's queue is paused"),
                    paused=True,
                )
            receipt = await receipts.begin_credit(
                session,
                request.receipt_id,
                attempt=attempt,
                now=self.clock(),
                actor=f"provider-worker:{request.provider_id}",
                receipt=read,
            )
            audit.record(
                session,
                actor=f"provider-worker:{request.provider_id}",
                action="begin_credit",
                object_type="receipt",
                object_id=request.receipt_id,
                outcome=receipt.state,
                detail={"attempt": attempt},
            )
            if receipt.state in {s.value for s in TERMINAL_RECEIPT_STATES}:
                return CreditResult(
                    receipt_id=receipt.id,
                    status=receipt.state,
                    provider_reference=receipt.provider_reference,
                    reason=receipt.last_error,
                )
            credit = CreditRequest(
                receipt_id=receipt.id,
                account_id=receipt.account_id,
                points=receipt.points,
                measure_id=receipt.measure_id,
                municipality_code=receipt.municipality_code,
            )
        try:
            adapter = await self.adapter_for(request.provider_id)
            outcome = await adapter.credit(credit)
            if outcome.status == "queued":  # batch_file: the next file carries it
                async with self.sessions.begin() as session:
                    await batches.enqueue(
                        session,
                        receipt_id=request.receipt_id,
                        provider_id=request.provider_id,
                        now=self.clock(),
                    )
                outcome = CreditOutcome(status="accepted")
        except (TransientProviderError, PermanentProviderError) as error:
            found = self.classify(request.provider_id, error)
            async with self.sessions.begin() as session:
                await receipts.note_failure(
                    session,
                    request.receipt_id,
                    attempt=attempt,
                    error=str(error),
                    now=self.clock(),
                    code=found.code,
                )
                audit.record(
                    session,
                    actor=f"provider-worker:{request.provider_id}",
                    action="credit_attempt_failed",
                    object_type="receipt",
                    object_id=request.receipt_id,
                    outcome=found.code,
                    detail={"attempt": attempt, "error": str(error), "kind": found.kind},
                )
                paused = await provider_pause.record_failure(
                    session, request.provider_id, found, now=self.clock()
                )
            last = 0 < request.max_attempts <= attempt
            if found.kind == "transient" and not last and not paused:
                raise provider_error(error) from error
            return CreditResult(request.receipt_id, "failed", failure=found, paused=paused)
        result = CreditResult(
            receipt_id=request.receipt_id,
            status=outcome.status,
            provider_reference=outcome.provider_reference,
            reason=outcome.reason,
        )
        record = request.record and outcome.status in RECORDED_ANSWERS
        if failing or record:
            async with self.sessions.begin() as session:
                if failing:  # every success ends a run of failures (401s between never add up)
                    await provider_pause.record_success(session, request.provider_id)
                if record:
                    result.recorded = await record_outcome(
                        session,
                        RecordOutcomeInput(
                            receipt_id=request.receipt_id,
                            status=outcome.status,
                            provider_reference=outcome.provider_reference,
                            reason=outcome.reason,
                            actor=f"provider-worker:{request.provider_id}",
                        ),
                        now=self.clock(),
                    )
        return result
