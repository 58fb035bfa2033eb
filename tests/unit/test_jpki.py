from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.jpki.hierarchy import SIGNATURE_POLICY
from adapters.jpki.verifier import (
    TrustStore,
    verify_card_signature,
    verify_certificate,
)
from domain.errors import RuleViolation
from simulators.jpki import CardLocked, TestCA, WrongPin

NOW = datetime.now(UTC)
ISSUED = NOW - timedelta(hours=2)


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA.create()


def refusal(call) -> str:
    with pytest.raises(RuleViolation) as caught:
        call()
    return caught.value.code


def test_a_card_signature_over_the_nonce_verifies(ca: TestCA) -> None:
    card = ca.issue_card("4321")
    signature = card.sign(b"nonce", "4321")
    verify_card_signature(card.certificate, b"nonce", signature)
    assert refusal(lambda: verify_card_signature(card.certificate, b"other", signature)) == (
        "invalid_signature"
    )


def test_three_wrong_pins_in_a_row_lock_the_card(ca: TestCA) -> None:
    card = ca.issue_card("1234")
    with pytest.raises(WrongPin) as first:
        card.sign(b"n", "0000")
    assert first.value.attempts_left == 2
    card.sign(b"n", "1234")  # a right PIN resets the count
    for _ in range(2):
        with pytest.raises(WrongPin):
            card.sign(b"n", "9999")
    with pytest.raises(CardLocked):
        card.sign(b"n", "9999")
    with pytest.raises(CardLocked):
        card.sign(b"n", "1234")
    card.reset_pin("5678")
    assert card.sign(b"n", "5678")


def test_a_certificate_chains_to_its_own_root_only(ca: TestCA) -> None:
    card = ca.issue_card(issued_at=ISSUED)
    trusted = TrustStore([ca.certificate], allow_test_hierarchy=True)
    verified = verify_certificate(card.certificate, trusted, NOW)
    assert verified.serial_hex == card.serial_hex
    stranger = TrustStore([TestCA.create().certificate], allow_test_hierarchy=True)
    assert refusal(lambda: verify_certificate(card.certificate, stranger, NOW)) == (
        "untrusted_certificate"
    )


def test_signature_hierarchy_certificates_cannot_log_in(ca: TestCA) -> None:
    card = ca.issue_card(policy=SIGNATURE_POLICY, issued_at=ISSUED)
    trusted = TrustStore([ca.certificate], allow_test_hierarchy=True)
    assert refusal(lambda: verify_certificate(card.certificate, trusted, NOW)) == (
        "untrusted_certificate"
    )


def test_expired_certificates_are_refused(ca: TestCA) -> None:
    card = ca.issue_card(issued_at=NOW - timedelta(days=10), validity=timedelta(days=5))
    trusted = TrustStore([ca.certificate], allow_test_hierarchy=True)
    assert refusal(lambda: verify_certificate(card.certificate, trusted, NOW)) == (
        "certificate_expired"
    )


def test_production_refuses_test_roots(ca: TestCA) -> None:
    with pytest.raises(ValueError, match="test JPKI"):
        TrustStore([ca.certificate], allow_test_hierarchy=False)
