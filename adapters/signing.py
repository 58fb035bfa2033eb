"""Standard Webhooks signatures, in both directions: the hub signs its provider calls with the
provider's secret, and verifies provider webhooks against one or two secrets (rotation)."""

from __future__ import annotations

import json
import secrets as _secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

__all__ = ["WebhookVerificationError", "new_secret", "sign_headers", "verify_signed"]


def new_secret() -> str:
    """A fresh secret in the Standard Webhooks form `whsec_<base64>`."""
    import base64

    return "whsec_" + base64.b64encode(_secrets.token_bytes(32)).decode()


def sign_headers(
    secret: str, body: bytes, *, message_id: str | None = None, at: datetime | None = None
) -> dict[str, str]:
    """Headers `webhook-id`, `webhook-timestamp`, `webhook-signature` for `body`, signed now
    (or `at`, which only tests of stale and future timestamps need)."""
    message_id = message_id or "msg_" + _secrets.token_hex(12)
    now = at or datetime.now(UTC)
    signature = Webhook(secret).sign(message_id, now, body.decode())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def verify_signed(secrets: Sequence[str], body: bytes, headers: Mapping[str, str]) -> Any:
    """The parsed JSON body when any of `secrets` signed it within five minutes of now.

    Raises `WebhookVerificationError` for a missing header, a stale or future timestamp, a
    tampered body or an unknown secret, and `ValueError` for a signed body that is not JSON.
    """
    if not secrets:
        raise WebhookVerificationError("no secret configured")
    plain = {k.lower(): v for k, v in headers.items()}
    last: WebhookVerificationError | None = None
    for secret in secrets:
        try:
            Webhook(secret).verify(body, plain, json_parse=False)
        except WebhookVerificationError as exc:
            last = exc
            continue
        except (ValueError, IndexError) as exc:  # malformed signature header or body encoding
            last = WebhookVerificationError(f"malformed signature header: {exc}")
            continue
        # Signed. An empty body (a GET) is None; a body that is not JSON raises ValueError.
        return json.loads(body) if body else None
    assert last is not None
    raise last
