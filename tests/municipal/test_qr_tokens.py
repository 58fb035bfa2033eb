"""Event QR payloads: signed, tamper-proof, bound to one event, and they expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import RuleViolation
from domain.qr import expiry_of, sign_event_qr, verify_qr

KEY = b"k" * 32
NOW = datetime(2026, 6, 1, 10, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=30)


def refusal(payload: str, key: bytes = KEY, now: datetime = NOW) -> str:
    with pytest.raises(RuleViolation) as caught:
        verify_qr(payload, key, now)
    assert caught.value.code == "invalid_qr"
    return caught.value.detail


def test_a_signed_payload_names_its_event_until_it_expires() -> None:
    payload = sign_event_qr("evt_0123456789abcdef0123", EXPIRES, KEY)
    assert verify_qr(payload, KEY, NOW) == "evt_0123456789abcdef0123"
    assert expiry_of(payload) == EXPIRES
    assert refusal(payload, now=EXPIRES) == "this QR code has expired"


def test_another_events_signature_is_refused() -> None:
    mine = sign_event_qr("evt_mine", EXPIRES, KEY).split(".")
    theirs = sign_event_qr("evt_theirs", EXPIRES, KEY).split(".")
    forged = ".".join([*mine[:3], theirs[3]])
    assert refusal(forged) == "the QR code's signature does not match"


def test_a_later_expiry_cannot_be_written_in() -> None:
    parts = sign_event_qr("evt_mine", EXPIRES, KEY).split(".")
    parts[2] = str(int(parts[2]) + 86400)
    assert refusal(".".join(parts)) == "the QR code's signature does not match"


def test_a_payload_signed_with_another_key_is_refused() -> None:
    assert refusal(sign_event_qr("evt_mine", EXPIRES, b"other-key")).startswith("the QR code")


@pytest.mark.parametrize(
    "payload", ["", "hello", "MPQ1.evt.1.2.3", "MPQ2.evt_a.99999999999.sig", "x" * 1000]
)
def test_things_that_are_not_event_codes_are_refused(payload: str) -> None:
    assert refusal(payload) == "this is not an event QR code"


@given(st.integers(min_value=0, max_value=200), st.characters(codec="ascii"))
def test_changing_any_character_is_refused(position: int, replacement: str) -> None:
    payload = sign_event_qr("evt_0123456789abcdef0123", EXPIRES, KEY)
    position %= len(payload)
    if payload[position] == replacement:
        return
    tampered = payload[:position] + replacement + payload[position + 1 :]
    with pytest.raises(RuleViolation) as caught:
        verify_qr(tampered, KEY, NOW)
    assert caught.value.code == "invalid_qr"
