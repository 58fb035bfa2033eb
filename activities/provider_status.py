"""Asking a provider what became of a credit: run on the provider's own queue, like `credit`.

Every provider failure, and an answer in words the hub does not know, comes back as data
(`CreditStatusResult.failure`): waiting for an answer is never a failure of the workflow."""

from __future__ import annotations

from sqlalchemy import select
from temporalio import activity

from activities.providers import ProviderActivities
from activities.types import CreditStatusInput, CreditStatusResult
from adapters.providers.contract import PermanentProviderError, TransientProviderError
from domain.provider_errors import failure
from domain.receipt_machine import STATUS_WORDS
from services import provider_pause
from storage.models import Receipt


class ProviderStatusActivities:
    def __init__(self, providers: ProviderActivities) -> None:
        self.providers = providers

    @activity.defn(name="credit_status")
    async def credit_status(self, request: CreditStatusInput) -> CreditStatusResult:
        async with self.providers.sessions() as session:  # before asking: see ReturnReceiptInput
            pulls = await session.scalar(
                select(Receipt.pulls).where(Receipt.id == request.receipt_id)
            )
            _, failing = await provider_pause.standing(session, request.provider_id)
        try:
            adapter = await self.providers.adapter_for(request.provider_id)
            status = await adapter.credit_status(request.receipt_id)
        except (TransientProviderError, PermanentProviderError) as error:
            found = self.providers.classify(request.provider_id, error)
            paused = await self.providers.note_outcome(request.provider_id, found)
            activity.logger.info("credit status failed (%s, paused=%s)", found.code, paused)
            return CreditStatusResult(request.receipt_id, "failed", failure=found, pulls=pulls)
        if failing:  # the provider answered: a run of failures ends
            await self.providers.note_outcome(request.provider_id, None)
        if status.status not in STATUS_WORDS:
            return CreditStatusResult(
                request.receipt_id,
                "failed",
                failure=failure(
                    "provider_unknown_status", f"unknown credit status {status.status!r}"
                ),
                pulls=pulls,
            )
        return CreditStatusResult(
            receipt_id=request.receipt_id,
            status=status.status,
            provider_reference=status.provider_reference,
            reason=status.reason,
            pulls=pulls,
        )
