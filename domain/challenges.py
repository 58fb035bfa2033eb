"""Login challenges that carry themselves: nothing is stored when one is issued.

A challenge ID is `chl_` + base64url(expiry ‖ random ‖ tag): the expiry in Unix seconds, 16
random bytes, and the first 16 bytes of an HMAC-SHA256 over both under the hub's challenge key.
The nonce the card signs is another HMAC of the same bytes, so the hub recomputes it from the ID
and only the hub can make one. Single use is kept where it is spent: the spent challenge is
recorded (its `spent_key`, by the random bytes) in the transaction of the login or card proof
that used it, and a second use finds the record (`storage/identity.py`). A record is needed only
until the challenge expires; the worker purges older ones.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.errors import RuleViolation

PREFIX = "chl_"
RANDOM_BYTES = 16
_TAG_BYTES = 16
_HEAD = struct.Struct(">I")  # expiry, Unix seconds
_BODY_BYTES = _HEAD.size + RANDOM_BYTES


@dataclass(frozen=True)
class Challenge:
    challenge_id: str
    nonce: bytes  # what the card signs
    expires_at: datetime
    spent_key: str  # the record of its use; unique per challenge, at most 40 characters


def challenge_key(secret: bytes) -> bytes:
    """The challenge key, derived from the hub's token secret (one secret to keep and rotate)."""
    return hmac.new(secret, b"mph/auth-challenge/v1", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _opened(key: bytes, body: bytes) -> Challenge:
    (expiry,) = _HEAD.unpack(body[: _HEAD.size])
    return Challenge(
        challenge_id=PREFIX + _b64(body + _tag(key, body)),
        nonce=hmac.new(key, b"nonce:" + body, hashlib.sha256).digest(),
        expires_at=datetime.fromtimestamp(expiry, UTC),
        spent_key=PREFIX + _b64(body[_HEAD.size :]),
    )


def _tag(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, b"challenge:" + body, hashlib.sha256).digest()[:_TAG_BYTES]


def issue(key: bytes, random: bytes, *, now: datetime, ttl: timedelta) -> Challenge:
    """A new challenge valid for `ttl` from `now`; `random` is 16 fresh random bytes."""
    if len(random) != RANDOM_BYTES:
        raise ValueError(f"a challenge needs {RANDOM_BYTES} random bytes")
    expiry = int((now + ttl).timestamp())
    return _opened(key, _HEAD.pack(expiry) + random)


def unknown() -> RuleViolation:
    return RuleViolation("unknown_challenge", "no such challenge", status=401)


def open_challenge(key: bytes, challenge_id: str, *, now: datetime) -> Challenge:
    """The challenge an ID names, refused when the hub did not make it or it has expired."""
    if not challenge_id.startswith(PREFIX):
        raise unknown()
    text = challenge_id[len(PREFIX) :]
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise unknown() from exc
    if len(raw) != _BODY_BYTES + _TAG_BYTES:
        raise unknown()
    body, tag = raw[:_BODY_BYTES], raw[_BODY_BYTES:]
    if not hmac.compare_digest(tag, _tag(key, body)):
        raise unknown()
    challenge = _opened(key, body)
    if challenge.challenge_id != challenge_id:  # one spelling per challenge (rate limits key on it)
        raise unknown()
    if now >= challenge.expires_at:
        raise RuleViolation("challenge_expired", "this challenge has expired", status=401)
    return challenge
