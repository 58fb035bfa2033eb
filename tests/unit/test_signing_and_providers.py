from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.providers.batch_files import (
    BatchFileError,
    Manifest,
    ResultRow,
    check_against_manifest,
    parse_results,
    render_results,
    sha256_hex,
    write_atomically,
)
from adapters.providers.contract import (
    PermanentProviderError,
    TransientProviderError,
    classify_http_failure,
)
from adapters.providers.webhooks import WebhookMalformed, WebhookRefused, read_webhook
from adapters.signing import WebhookVerificationError, new_secret, sign_headers, verify_signed
from domain.errors import RuleViolation
from domain.providers import BatchCutoff, check_adapter_fields, next_batch_size


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


# ----- webhooks, batch files, cut-offs ---------------------------------------------------


def test_verify_signed_reads_empty_and_refuses_unparsable_bodies() -> None:
    secret = new_secret()
    assert verify_signed([secret], b"", sign_headers(secret, b"")) is None
    with pytest.raises(ValueError):
        verify_signed([secret], b"not json", sign_headers(secret, b"not json"))


def test_a_webhook_becomes_a_provider_event_only_when_signed_and_well_formed() -> None:
    secret = new_secret()
    body = b'{"type":"credit.completed","data":{"receipt_id":"g-r1","provider_reference":"p1"}}'
    event = read_webhook([secret], body, sign_headers(secret, body, message_id="msg_1"))
    assert (event.message_id, event.receipt_id, event.ack_status) == ("msg_1", "g-r1", "credited")
    stale = sign_headers(secret, body, at=datetime.now(UTC) - timedelta(minutes=5, seconds=5))
    with pytest.raises(WebhookRefused):
        read_webhook([secret], body, stale)
    for bad in (
        b'{"type":"credit.completed","data":{}}',
        b'{"type":"account.closed","data":{"account_id":"a"}}',
        b'{"type":"credit.completed","data":{"receipt_id":7}}',
        b'{"type":"credit.completed","data":{"receipt_id":"r","provider_reference":"'
        + b"x" * 129
        + b'"}}',
        b"[1]",
    ):
        with pytest.raises(WebhookMalformed):
            read_webhook([secret], bad, sign_headers(secret, bad))


def test_result_files_are_checked_whole() -> None:
    good = render_results([ResultRow("g-r1", "credited", None, "p1")])
    assert parse_results(good) == [ResultRow("g-r1", "credited", None, "p1")]
    for bad in (
        b"receipt_id,status\ng-r1,credited\n",
        b"receipt_id,status,reason,provider_reference\ng-r1,maybe,,\n",
        b"receipt_id,status,reason,provider_reference\ng-r1,credited,,\ng-r1,rejected,,\n",
        b"receipt_id,status,reason,provider_reference\n,credited,,\n",
        b"receipt_id,status,reason,provider_reference\n\xff,credited,,\n",
        b"receipt_id,status,reason,provider_reference\ng-r1,credited,," + b"x" * 129 + b"\n",
    ):
        with pytest.raises(BatchFileError):
            parse_results(bad)
    manifest = Manifest("r.csv", 1, 0, sha256_hex(good))
    check_against_manifest(manifest, good, 1, None)
    with pytest.raises(BatchFileError):
        check_against_manifest(manifest, good + b"x", 1, None)
    with pytest.raises(BatchFileError):
        check_against_manifest(manifest, good, 2, None)


def test_an_atomic_write_leaves_the_old_file_or_the_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "credits-1.csv"
    write_atomically(target, b"first")

    def broken_rename(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("adapters.providers.batch_files.os.replace", broken_rename)
    with pytest.raises(OSError):
        write_atomically(target, b"second")
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["credits-1.csv"]


@pytest.mark.parametrize(
    ("pending", "age", "size"),
    [(0, None, 0), (2, 10.0, 0), (3, 0.0, 3), (2, 60.0, 2), (25, 0.0, 10), (25, 90.0, 10)],
)
def test_the_batch_cut_off(pending: int, age: float | None, size: int) -> None:
    cutoff = BatchCutoff(records=3, seconds=60, max_records=10)
    assert next_batch_size(pending, age, cutoff) == size


def test_each_adapter_style_names_what_it_needs() -> None:
    check_adapter_fields("paylite", {"base_url": "u", "client_id": "c", "client_secret": "s"})
    with pytest.raises(RuleViolation):
        check_adapter_fields("paylite", {"base_url": "u", "client_id": "c"})
    batch = {"base_url": "u", "signing_secret": "s", "outbox_dir": "o", "inbox_dir": "i"}
    check_adapter_fields("batch_file", batch)
    with pytest.raises(RuleViolation):
        check_adapter_fields("batch_file", {**batch, "cutoff_records": 0})
    with pytest.raises(RuleViolation):
        check_adapter_fields("batch_file", {**batch, "cutoff_records": 50, "max_batch_records": 5})
