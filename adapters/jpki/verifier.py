"""Checks a login: the card's signature over the nonce, and the certificate's place in JPKI."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from adapters.jpki.hierarchy import is_test_hierarchy, is_user_authentication
from domain.errors import RuleViolation

ACTIVATION_DELAY = timedelta(hours=1)


@dataclass(frozen=True)
class VerifiedCertificate:
    serial_hex: str
    issuer_fingerprint: str
    not_before: datetime
    not_after: datetime


def load_pem_certificates(paths: Iterable[Path]) -> list[x509.Certificate]:
    roots: list[x509.Certificate] = []
    for path in paths:
        roots.extend(x509.load_pem_x509_certificates(Path(path).read_bytes()))
    return roots


def fingerprint(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


class TrustStore:
    """The configured JPKI roots. Several root generations may share one name."""

    def __init__(self, anchors: Iterable[x509.Certificate], *, allow_test_hierarchy: bool) -> None:
        self.anchors = list(anchors)
        self.allow_test_hierarchy = allow_test_hierarchy
        if not allow_test_hierarchy:
            test_roots = [a for a in self.anchors if is_test_hierarchy(a)]
            if test_roots:
                raise ValueError("test JPKI hierarchies are not trusted in production")

    def issuer_of(self, certificate: x509.Certificate) -> x509.Certificate | None:
        """The anchor whose key verifies the signature; a matching name alone proves nothing."""
        for anchor in self.anchors:
            try:
                certificate.verify_directly_issued_by(anchor)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return anchor
        return None


def parse_certificate(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise RuleViolation(
            "untrusted_certificate", "the certificate cannot be parsed", status=401
        ) from exc


def verify_card_signature(certificate: x509.Certificate, nonce: bytes, signature: bytes) -> None:
    """RSASSA-PKCS1-v1_5 with SHA-256 over the challenge nonce, by the certificate's key."""
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise RuleViolation("untrusted_certificate", "the certificate key is not RSA", status=401)
    try:
        key.verify(signature, nonce, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise RuleViolation(
            "invalid_signature", "the signature does not match the challenge", status=401
        ) from exc


def verify_certificate(
    certificate: x509.Certificate, trust: TrustStore, now: datetime
) -> VerifiedCertificate:
    """Chain, hierarchy and validity. Revocation and activation are checked by the caller."""
    issuer = trust.issuer_of(certificate)
    if issuer is None:
        raise RuleViolation(
            "untrusted_certificate",
            "the certificate does not chain to a trusted JPKI root",
            status=401,
        )
    if not is_user_authentication(certificate):
        raise RuleViolation(
            "untrusted_certificate",
            "only user-authentication certificates (利用者証明用) can log in",
            status=401,
        )
    if is_test_hierarchy(certificate) and not trust.allow_test_hierarchy:
        raise RuleViolation(
            "untrusted_certificate", "test certificates are not accepted here", status=401
        )
    not_before = certificate.not_valid_before_utc
    not_after = certificate.not_valid_after_utc
    if now > not_after:
        raise RuleViolation("certificate_expired", "the certificate has expired", status=401)
    if now < not_before:
        raise RuleViolation(
            "certificate_not_yet_active",
            "the certificate is not valid yet",
            status=401,
            retry_at=not_before.isoformat(),
        )
    return VerifiedCertificate(
        serial_hex=format(certificate.serial_number, "x"),
        issuer_fingerprint=fingerprint(issuer),
        not_before=not_before,
        not_after=not_after,
    )
