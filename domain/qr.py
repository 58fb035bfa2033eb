"""The QR payload of an event: a signed, tamper-proof token naming the event (SPEC §2).

Printed posters cannot be recalled, so the token carries its own expiry and an HMAC over the
event ID and that expiry: a changed character, another event's signature, or a token past its
expiry is refused as `invalid_qr`, whatever the event rows say. The format is compact so the
printed code stays small and easy to scan:

    MPQ1.<event_id>.<expires at, unix seconds>.<HMAC-SHA256, base64url without padding>
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime

from domain.errors import RuleViolation

PREFIX = "MPQ1"
MAX_PAYLOAD = 256
_EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_EXPIRES = re.compile(r"^[0-9]{1,12}$")


def _signature(event_id: str, expires: int, key: bytes) -> str:
    message = f"{PREFIX}.{event_id}.{expires}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_event_qr(event_id: str, expires_at: datetime, key: bytes) -> str:
    """The payload printed on an event's poster, valid until `expires_at`."""
    if not _EVENT_ID.match(event_id):
        raise ValueError("an event ID is 1-40 characters of A-Z, a-z, 0-9, _ and -")
    if not key:
        raise ValueError("the QR signing key must not be empty")
    expires = int(expires_at.astimezone(UTC).timestamp())
    return f"{PREFIX}.{event_id}.{expires}.{_signature(event_id, expires, key)}"


def _invalid(detail: str) -> RuleViolation:
    return RuleViolation("invalid_qr", detail, status=422)


def verify_qr(payload: str, key: bytes, now: datetime) -> str:
    """The event ID a payload names, once its signature and expiry hold; else `invalid_qr`."""
    if not isinstance(payload, str) or len(payload) > MAX_PAYLOAD:
        raise _invalid("this is not an event QR code")
    parts = payload.strip().split(".")
    if len(parts) != 4 or parts[0] != PREFIX:
        raise _invalid("this is not an event QR code")
    _, event_id, expires_text, signature = parts
    if not _EVENT_ID.match(event_id) or not _EXPIRES.match(expires_text):
        raise _invalid("this is not an event QR code")
    expected = _signature(event_id, int(expires_text), key)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise _invalid("the QR code's signature does not match")
    if now.timestamp() >= int(expires_text):
        raise _invalid("this QR code has expired")
    return event_id


def expiry_of(payload: str) -> datetime:
    """When a (well-formed) payload stops being accepted; for display, not for checking."""
    return datetime.fromtimestamp(int(payload.split(".")[2]), UTC)
