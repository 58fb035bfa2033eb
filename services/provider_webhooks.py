"""Webhooks from `hub_rest` providers (SPEC §5): verified against the provider's one or two
secrets, acted on once per `webhook-id`, and turned into acknowledgements or closed accounts."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from adapters.providers.contract import ProviderEvent
from adapters.providers.webhooks import WebhookMalformed, WebhookRefused, read_webhook
from domain.errors import RuleViolation
from services import acknowledgements
from services.context import HubContext
from storage import provider_inbox
from storage.models import PaymentProvider

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookOutcome:
    event_type: str
    outcome: str  # recorded | duplicate | ignored_replay | accounts_closed
    registrations_invalidated: int = 0


def _verified(provider: PaymentProvider, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
    secrets = provider.secrets.get("webhook_secrets") or []
    try:
        return read_webhook([str(s) for s in secrets], body, headers)
    except WebhookRefused as exc:
        raise RuleViolation(
            "invalid_webhook_signature", f"the webhook is not accepted: {exc}", status=401
        ) from exc
    except WebhookMalformed as exc:
        raise RuleViolation("invalid_webhook", str(exc), status=422) from exc


async def receive(
    ctx: HubContext, provider_id: str, body: bytes, headers: Mapping[str, str]
) -> WebhookOutcome:
    """One transaction: the provider's secrets read, the signature checked, the message ID
    remembered and the message acted on (its answer recorded, or the account's registrations
    invalidated). A refused webhook leaves nothing: the transaction rolls back with the refusal.
    An answer is then told to its workflow; if that fails, or the answer contradicts an earlier
    one, the message ID is forgotten, so the provider's next attempt is heard. A replay changes
    nothing, but an answer it repeats that its workflow was never told (the process stopped
    after the commit) is told now."""
    async with ctx.sessions.begin() as session:
        provider = await session.get(PaymentProvider, provider_id)
        if provider is None:
            raise RuleViolation("not_found", "no such provider", status=404)
        event = _verified(provider, body, headers)
        now = ctx.clock()
        first = await provider_inbox.remember_message(
            session, provider_id, event.message_id, event.type, now
        )
        if event.ack_status is None:
            if not first:
                return WebhookOutcome(event.type, "ignored_replay")
            assert event.payment_service_id is not None and event.account_id is not None
            changed = await provider_inbox.close_account(
                session, provider_id, event.payment_service_id, event.account_id, now
            )
            return WebhookOutcome(event.type, "accounts_closed", changed)
        assert event.receipt_id is not None
        answer = acknowledgements.one_answer(
            event.receipt_id, event.ack_status, event.reason, event.provider_reference
        )
        recorded = await acknowledgements.record_one(
            session, provider_id, answer, source="webhook", now=now
        )
    try:
        result = await acknowledgements.conclude(ctx, provider_id, answer, recorded)
    except BaseException:
        # Not acted on: the provider may send the same webhook again and be heard then.
        async with ctx.sessions.begin() as session:
            await provider_inbox.forget_message(session, provider_id, event.message_id)
        raise
    return WebhookOutcome(event.type, result.verdict.value if first else "ignored_replay")
