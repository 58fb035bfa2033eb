"""Asking a provider, from the API, what became of one receipt (Hub Provider Protocol
`GET /credits/{receipt_id}` or its adapter style's equivalent): for support settling a
reconciliation break and for a signed answer that contradicts the recorded one."""

from __future__ import annotations

from typing import Any

from adapters.providers.contract import PermanentProviderError, TransientProviderError
from domain.errors import RuleViolation
from storage.catalog import profile_of
from storage.models import PaymentProvider


async def ask_provider_status(
    ctx: Any, provider_id: str, receipt_id: str, *, unanswered: str
) -> tuple[str, str | None]:
    """(status, provider_reference) as the provider answers now; no answer is 503
    `provider_unavailable` with `unanswered` and the error's kind as its detail."""
    async with ctx.sessions() as session:
        provider = await session.get(PaymentProvider, provider_id)
    if provider is None:
        raise RuleViolation("not_found", "no such provider", status=404)
    profile = profile_of(provider)
    adapter = ctx.registry.get(
        profile.provider_id, profile.adapter, profile.config, profile.secrets
    )
    try:
        answer = await adapter.credit_status(receipt_id)
    except (TransientProviderError, PermanentProviderError) as exc:
        raise RuleViolation(
            "provider_unavailable", unanswered.format(kind=type(exc).__name__), status=503
        ) from exc
    return answer.status, answer.provider_reference
