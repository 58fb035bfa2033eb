"""Signed login challenges (`domain/challenges.py`): only the hub's key makes one, each has one
spelling, it expires, and its nonce is fixed by its ID."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.challenges import RANDOM_BYTES, challenge_key, issue, open_challenge
from domain.errors import RuleViolation

KEY = challenge_key(b"test-token-secret")
NOW = datetime(2026, 12, 6, 10, 0, 0, 400_000, tzinfo=UTC)
TTL = timedelta(minutes=5)


def code(call: object) -> str:
    with pytest.raises(RuleViolation) as refused:
        assert callable(call)
        call()
    return refused.value.code


def test_an_issued_challenge_opens_to_the_same_nonce_until_it_expires() -> None:
    challenge = issue(KEY, bytes(range(RANDOM_BYTES)), now=NOW, ttl=TTL)
    assert len(challenge.challenge_id) <= 64 and len(challenge.spent_key) <= 40
    opened = open_challenge(KEY, challenge.challenge_id, now=NOW + timedelta(minutes=4, seconds=59))
    assert opened == challenge and len(opened.nonce) == 32
    late = NOW + TTL
    assert code(lambda: open_challenge(KEY, challenge.challenge_id, now=late)) == (
        "challenge_expired"
    )


def test_fresh_random_bytes_give_another_challenge_and_nonce() -> None:
    one = issue(KEY, b"\x01" * RANDOM_BYTES, now=NOW, ttl=TTL)
    two = issue(KEY, b"\x02" * RANDOM_BYTES, now=NOW, ttl=TTL)
    assert one.challenge_id != two.challenge_id
    assert one.nonce != two.nonce and one.spent_key != two.spent_key


def test_forged_tampered_or_respelled_challenges_are_unknown() -> None:
    challenge = issue(KEY, b"\x07" * RANDOM_BYTES, now=NOW, ttl=TTL)
    other_key = issue(challenge_key(b"another"), b"\x07" * RANDOM_BYTES, now=NOW, ttl=TTL)
    cid = challenge.challenge_id
    flipped = cid[:10] + ("A" if cid[10] != "A" else "B") + cid[11:]
    for candidate in (other_key.challenge_id, flipped, cid + "=", cid + "A", "chl_", "x" + cid):
        assert code(lambda c=candidate: open_challenge(KEY, c, now=NOW)) == "unknown_challenge"
