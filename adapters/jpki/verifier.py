"""Checks a login: the card's signature over the nonce, and the certificate's place in JPKI.

The order of the checks is the order of the refusal codes a resident can act on: a certificate
the hub cannot trust at all is `untrusted_certificate` whatever its dates (first the hierarchy,
read from the certificate policy, so that a resident who sent the card's signature certificate
is told so; then the chain to a configured root); then expiry; then the one-hour activation
delay (FAQ: 発行後1時間経過後), whose error tells when to retry. Revocation
(`adapters/jpki/crl.py`) is checked by the caller, with the issuer this module found.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from adapters.jpki.der import read_extensions
from adapters.jpki.hierarchy import REFUSAL_DETAILS, is_test_root, refusal_of
from domain import jpki_profile
from domain.errors import RuleViolation

ACTIVATION_DELAY = timedelta(hours=1)
RSA_KEY_BITS = 2048


@dataclass(frozen=True)
class VerifiedCertificate:
    serial_hex: str
    issuer_fingerprint: str
    not_before: datetime
    not_after: datetime


def serial_hex_of(certificate: x509.Certificate) -> str:
    """The serial (発行番号) as the hub keys it: lower-case hex without leading zeros."""
    return format(certificate.serial_number, "x")


def load_pem_certificates(paths: Iterable[Path]) -> list[x509.Certificate]:
    roots: list[x509.Certificate] = []
    for path in paths:
        roots.extend(x509.load_pem_x509_certificates(Path(path).read_bytes()))
    return roots


def fingerprint(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


class TrustStore:
    """The configured JPKI roots (several root generations may share one name) and the
    certificate policies that mark a user-authentication certificate."""

    def __init__(
        self,
        anchors: Iterable[x509.Certificate],
        *,
        allow_test_hierarchy: bool,
        accepted_policies: Iterable[str] = (jpki_profile.USER_AUTHENTICATION_POLICY,),
    ) -> None:
        self.anchors = list(anchors)
        self.allow_test_hierarchy = allow_test_hierarchy
        self.accepted_policies = frozenset(accepted_policies)
        not_ca = [a for a in self.anchors if not _is_ca(a)]
        if not_ca:
            raise ValueError("a JPKI trust anchor must be a CA certificate")
        if not allow_test_hierarchy:
            test_roots = [a for a in self.anchors if is_test_root(a)]
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

    def by_fingerprint(self, value: str) -> x509.Certificate | None:
        return next((a for a in self.anchors if fingerprint(a) == value), None)


def _untrusted(detail: str, reason: str = "malformed") -> RuleViolation:
    return RuleViolation("untrusted_certificate", detail, status=401, reason=reason)


def parse_certificate(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise _untrusted("the certificate cannot be parsed") from exc


def verify_card_signature(certificate: x509.Certificate, nonce: bytes, signature: bytes) -> None:
    """RSASSA-PKCS1-v1_5 with SHA-256 over the challenge nonce, by the certificate's key."""
    try:
        key = certificate.public_key()
    except ValueError as exc:
        raise _untrusted("the certificate's key cannot be read") from exc
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < RSA_KEY_BITS:
        raise _untrusted("the certificate key is not RSA-2048", "key")
    try:
        key.verify(signature, nonce, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise RuleViolation(
            "invalid_signature", "the signature does not match the challenge", status=401
        ) from exc


def verify_certificate(
    certificate: x509.Certificate, trust: TrustStore, now: datetime
) -> VerifiedCertificate:
    """Chain, hierarchy, validity and activation. Revocation is checked by the caller."""
    try:
        return _verify(certificate, trust, now)
    except (ValueError, TypeError) as exc:  # a field that parses only lazily, and fails
        raise _untrusted("the certificate is malformed") from exc


def _verify(certificate: x509.Certificate, trust: TrustStore, now: datetime) -> VerifiedCertificate:
    refusal = refusal_of(
        read_extensions(certificate.tbs_certificate_bytes), trust.accepted_policies
    )
    if refusal is not None:
        raise _untrusted(REFUSAL_DETAILS[refusal], refusal.value)
    issuer = trust.issuer_of(certificate)
    if issuer is None:
        raise _untrusted("the certificate does not chain to a trusted JPKI root", "untrusted_root")
    if is_test_root(issuer) and not trust.allow_test_hierarchy:
        raise _untrusted("test certificates are not accepted here", "test_hierarchy")
    not_before = certificate.not_valid_before_utc
    not_after = certificate.not_valid_after_utc
    if now > not_after or now > issuer.not_valid_after_utc:
        raise RuleViolation("certificate_expired", "the certificate has expired", status=401)
    active_from = not_before + ACTIVATION_DELAY
    if now < active_from:
        raise RuleViolation(
            "certificate_not_yet_active",
            "a newly issued certificate can be used one hour after issue; "
            f"try again from {active_from.isoformat()}",
            status=401,
            retry_at=active_from.isoformat(),
            retry_after_s=max(math.ceil((active_from - now).total_seconds()), 1),
        )
    return VerifiedCertificate(
        serial_hex=serial_hex_of(certificate),
        issuer_fingerprint=fingerprint(issuer),
        not_before=not_before,
        not_after=not_after,
    )
