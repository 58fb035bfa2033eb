"""What an entry may hold: no secret, no My Number, identifiers of accounts masked."""

from __future__ import annotations

import json

from storage.audit import encode_detail


def test_secrets_are_replaced_and_my_numbers_redacted() -> None:
    detail = {
        "security_code": "1234",
        "token": "mps_abc",
        "signing_secret": "whsec_x",
        "webhook_secrets": ["a", "b"],
        "key_id": "key_1",
        "account_id": "acct-0001234",
        "note": "本人 １２３４ ５６７８ ９０１８ より",
        "nested": {"pin": "0000", "reason": "1234-5678-9018"},
    }
    text = encode_detail(detail)
    assert text is not None
    cleaned = json.loads(text)
    for name in ("security_code", "token", "signing_secret", "webhook_secrets"):
        assert cleaned[name] == "[redacted]"
    assert cleaned["nested"]["pin"] == "[redacted]"
    assert cleaned["key_id"] == "key_1"
    assert cleaned["account_id"] == "********1234"
    assert "5678" not in text and "５６７８" not in text
    assert cleaned["note"].startswith("本人 [redacted]")


def test_a_large_detail_is_truncated_and_empty_is_none() -> None:
    assert encode_detail(None) is None and encode_detail({}) is None
    text = encode_detail({f"k{n}": "x" * 400 for n in range(40)})
    assert text is not None and len(text) < 4200 and "truncated" in json.loads(text)
