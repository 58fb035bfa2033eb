from __future__ import annotations

import pytest

from adapters.providers.contract import (
    PermanentProviderError,
    TransientProviderError,
    classify_http_failure,
)
from adapters.signing import WebhookVerificationError, new_secret, sign_headers, verify_signed


def test_a_signed_body_verifies_with_either_rotation_secret() -> None:
    old, new = new_secret(), new_secret()
    body = b'{"type":"credit.completed"}'
    headers = sign_headers(new, body)
    assert verify_signed([old, new], body, headers) == {"type": "credit.completed"}


def test_tampering_or_a_wrong_secret_is_refused() -> None:
    secret = new_secret()
    headers = sign_headers(secret, b'{"a":1}')
    with pytest.raises(WebhookVerificationError):
        verify_signed([secret], b'{"a":2}', headers)
    with pytest.raises(WebhookVerificationError):
        verify_signed([new_secret()], b'{"a":1}', headers)
    with pytest.raises(WebhookVerificationError):
        verify_signed([secret], b'{"a":1}', {**headers, "webhook-signature": "v1,garbage"})


@pytest.mark.parametrize(
    ("status", "retry_after", "kind", "delay"),
    [
        (429, "7", TransientProviderError, 7.0),
        (503, None, TransientProviderError, None),
        (500, None, TransientProviderError, None),
        (400, None, PermanentProviderError, None),
        (409, None, PermanentProviderError, None),
    ],
)
def test_every_http_failure_is_classified_in_one_place(
    status: int, retry_after: str | None, kind: type, delay: float | None
) -> None:
    error = classify_http_failure(status, retry_after, "body")
    assert isinstance(error, kind)
    if isinstance(error, TransientProviderError):
        assert error.retry_after_s == delay
