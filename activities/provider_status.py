"""Asking a provider what became of a credit: run on the provider's own queue, like `credit`."""

from __future__ import annotations

from temporalio import activity

from activities.errors import provider_error
from activities.providers import ProviderActivities
from activities.types import CreditStatusInput, CreditStatusResult
from adapters.providers.contract import PermanentProviderError, TransientProviderError


class ProviderStatusActivities:
    def __init__(self, providers: ProviderActivities) -> None:
        self.providers = providers

    @activity.defn(name="credit_status")
    async def credit_status(self, request: CreditStatusInput) -> CreditStatusResult:
        try:
            adapter = await self.providers.adapter_for(request.provider_id)
            status = await adapter.credit_status(request.receipt_id)
        except (TransientProviderError, PermanentProviderError) as error:
            raise provider_error(error) from error
        return CreditStatusResult(
            receipt_id=request.receipt_id,
            status=status.status,
            provider_reference=status.provider_reference,
            reason=status.reason,
        )
