"""Provider webhooks (SPEC §5): Standard Webhooks signatures checked against the provider's one
or two secrets, then the event read into the contract's `ProviderEvent`.

A webhook is refused whole when its signature, timestamp or shape is wrong; nothing in it is
trusted before the signature is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.providers.contract import REFERENCE_MAX, ProviderEvent
from adapters.signing import WebhookVerificationError, verify_signed

EVENT_TYPES = frozenset({"credit.completed", "credit.rejected", "account.closed"})
MAX_TEXT = 200


class WebhookRefused(Exception):
    """The webhook is not from this provider, or too old or too new to trust (401)."""


class WebhookMalformed(Exception):
    """Signed correctly, but not an event the hub understands (422)."""


def _text(
    data: dict[str, Any], key: str, *, required: bool = False, limit: int = MAX_TEXT
) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise WebhookMalformed(f"data.{key} is required")
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise WebhookMalformed(f"data.{key} must be a string of 1 to {limit} characters")
    return value


def read_webhook(secrets: Sequence[str], body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
    """The verified event of one webhook request."""
    try:
        payload = verify_signed(secrets, body, headers)
    except WebhookVerificationError as exc:
        raise WebhookRefused(str(exc) or "signature not valid") from exc
    except ValueError as exc:  # signed, but the body is not JSON
        raise WebhookMalformed("the body is not JSON") from exc
    if not isinstance(payload, dict):
        raise WebhookMalformed("the body must be a JSON object")
    event_type = payload.get("type")
    if event_type not in EVENT_TYPES:
        raise WebhookMalformed(f"unknown event type {event_type!r}")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise WebhookMalformed("data must be an object")
    message_id = {k.lower(): v for k, v in headers.items()}["webhook-id"]
    if event_type == "account.closed":
        return ProviderEvent(
            message_id=message_id,
            type=event_type,
            payment_service_id=_text(data, "payment_service_id", required=True),
            account_id=_text(data, "account_id", required=True),
        )
    return ProviderEvent(
        message_id=message_id,
        type=event_type,
        receipt_id=_text(data, "receipt_id", required=True),
        reason=_text(data, "reason"),
        provider_reference=_text(data, "provider_reference", limit=REFERENCE_MAX),
    )
