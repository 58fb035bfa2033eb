"""A test CA for the JPKI user-authentication hierarchy and a software My Number Card.

Neither is used in production: the CA's organisation is `JPKI-TEST`, which production refuses.
The virtual card behaves like the real one where the hub can tell: RSA-2048 key, PKCS#1 v1.5
signatures with SHA-256, a 4-digit PIN and a lock after three wrong PINs in a row.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from adapters.jpki.hierarchy import (
    SIGNATURE_POLICY,
    TEST_ORGANIZATION,
    USER_AUTHENTICATION_POLICY,
)

PIN_ATTEMPTS = 3
DEFAULT_VALIDITY = timedelta(days=5 * 365)


class WrongPin(Exception):
    def __init__(self, attempts_left: int) -> None:
        super().__init__(f"wrong PIN, {attempts_left} attempt(s) left")
        self.attempts_left = attempts_left


class CardLocked(Exception):
    pass


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _load_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@dataclass
class VirtualCard:
    """A My Number Card's user-authentication applet, in software."""

    certificate_der: bytes
    private_key_pem: str
    pin: str
    failed_pins: int = 0

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.certificate_der)

    @property
    def serial_hex(self) -> str:
        return format(self.certificate.serial_number, "x")

    @property
    def locked(self) -> bool:
        return self.failed_pins >= PIN_ATTEMPTS

    def sign(self, nonce: bytes, pin: str) -> bytes:
        """Sign as the card does after the PIN: three wrong PINs in a row lock the card."""
        if self.locked:
            raise CardLocked("the card is locked; the PIN must be reset at the municipal office")
        if not secrets.compare_digest(pin, self.pin):
            self.failed_pins += 1
            if self.locked:
                raise CardLocked("three wrong PINs in a row: the card is now locked")
            raise WrongPin(PIN_ATTEMPTS - self.failed_pins)
        self.failed_pins = 0
        return _load_key(self.private_key_pem).sign(nonce, padding.PKCS1v15(), hashes.SHA256())

    def reset_pin(self, new_pin: str) -> None:
        """What the municipal office does for a locked card."""
        _check_pin(new_pin)
        self.pin = new_pin
        self.failed_pins = 0

    def to_json(self) -> str:
        return json.dumps(
            {
                "certificate_der": self.certificate_der.hex(),
                "private_key_pem": self.private_key_pem,
                "pin": self.pin,
                "failed_pins": self.failed_pins,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> VirtualCard:
        data = json.loads(text)
        return cls(
            certificate_der=bytes.fromhex(data["certificate_der"]),
            private_key_pem=data["private_key_pem"],
            pin=data["pin"],
            failed_pins=data["failed_pins"],
        )

    def save(self, path: Path) -> None:
        _write_private(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> VirtualCard:
        return cls.from_json(path.read_text())


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner reads, replacing any earlier one in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(temporary, path)


def _check_pin(pin: str) -> None:
    if len(pin) != 4 or not pin.isdigit():
        raise ValueError("the user-authentication PIN is four digits")


@dataclass
class TestCA:
    """Issues, renews and revokes virtual cards' certificates for one test root generation, and
    publishes what the real JPKI publishes: a CRL and the old/new linking records."""

    __test__ = False  # not a pytest test class

    certificate_pem: str
    private_key_pem: str
    links: dict[str, str] = field(default_factory=dict)  # new serial hex -> previous serial hex
    revoked: dict[str, str] = field(default_factory=dict)  # serial hex -> revocation time ISO
    crl_number: int = 0

    @classmethod
    def create(
        cls,
        common_name: str = "JPKI-TEST User Authentication CA",
        *,
        now: datetime | None = None,
        hierarchy_policy: x509.ObjectIdentifier = USER_AUTHENTICATION_POLICY,
    ) -> TestCA:
        now = now or datetime.now(UTC)
        key = _new_key()
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, TEST_ORGANIZATION),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=20 * 365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.CertificatePolicies([x509.PolicyInformation(hierarchy_policy, None)]),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(
            certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
            private_key_pem=_key_pem(key),
        )

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate_pem.encode())

    def issue_certificate(
        self,
        public_key: rsa.RSAPublicKey,
        *,
        issued_at: datetime | None = None,
        validity: timedelta = DEFAULT_VALIDITY,
        policy: x509.ObjectIdentifier = USER_AUTHENTICATION_POLICY,
    ) -> x509.Certificate:
        """A user-authentication certificate: subject `C=JP, CN=<opaque>`, no name or address."""
        issued_at = issued_at or datetime.now(UTC)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.COMMON_NAME, secrets.token_hex(12).upper()),
            ]
        )
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(issued_at)
            .not_valid_after(issued_at + validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=policy == SIGNATURE_POLICY,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.CertificatePolicies([x509.PolicyInformation(policy, None)]), critical=False
            )
            .sign(_load_key(self.private_key_pem), hashes.SHA256())
        )

    def issue_card(
        self,
        pin: str = "1234",
        *,
        issued_at: datetime | None = None,
        validity: timedelta = DEFAULT_VALIDITY,
        policy: x509.ObjectIdentifier = USER_AUTHENTICATION_POLICY,
    ) -> VirtualCard:
        _check_pin(pin)
        key = _new_key()
        certificate = self.issue_certificate(
            key.public_key(), issued_at=issued_at, validity=validity, policy=policy
        )
        return VirtualCard(
            certificate_der=certificate.public_bytes(serialization.Encoding.DER),
            private_key_pem=_key_pem(key),
            pin=pin,
        )

    def renew_card(
        self,
        card: VirtualCard,
        *,
        issued_at: datetime | None = None,
        revoke_previous: bool = True,
    ) -> VirtualCard:
        """A new key and certificate on the same card, recorded in the old/new linking data.

        As in JPKI, the certificate it replaces is revoked (reason: superseded).
        """
        renewed = self.issue_card(card.pin, issued_at=issued_at)
        self.links[renewed.serial_hex] = card.serial_hex
        if revoke_previous:
            self.revoke(card.serial_hex, at=issued_at)
        return renewed

    def revoke(self, serial_hex: str, *, at: datetime | None = None) -> None:
        self.revoked.setdefault(serial_hex, (at or datetime.now(UTC)).isoformat())

    def previous_serial(self, serial_hex: str) -> str | None:
        """What the linking service answers for `serial_hex`."""
        return self.links.get(serial_hex)

    def crl(
        self,
        *,
        this_update: datetime | None = None,
        next_update: datetime | None = None,
        validity: timedelta = timedelta(hours=1),
    ) -> x509.CertificateRevocationList:
        """A CRL of every certificate revoked so far, signed by this root, numbered upwards."""
        this_update = (this_update or datetime.now(UTC)).replace(microsecond=0)
        self.crl_number += 1
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(this_update)
            .next_update(next_update or this_update + validity)
            .add_extension(x509.CRLNumber(self.crl_number), critical=False)
        )
        for serial_hex, at in sorted(self.revoked.items()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(int(serial_hex, 16))
                .revocation_date(datetime.fromisoformat(at))
                .build()
            )
        return builder.sign(_load_key(self.private_key_pem), hashes.SHA256())

    def crl_der(self, **when: Any) -> bytes:
        return self.crl(**when).public_bytes(serialization.Encoding.DER)

    def to_json(self) -> str:
        return json.dumps(
            {
                "certificate_pem": self.certificate_pem,
                "private_key_pem": self.private_key_pem,
                "links": self.links,
                "revoked": self.revoked,
                "crl_number": self.crl_number,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> TestCA:
        return cls(**json.loads(text))

    def save(self, directory: Path) -> None:
        """Atomically, since `mph card` writes while the linking service reads."""
        _write_private(directory / "ca.json", self.to_json())
        if not (directory / "root.pem").exists():
            (directory / "root.pem").write_text(self.certificate_pem)

    @classmethod
    def load(cls, directory: Path) -> TestCA:
        return cls.from_json((directory / "ca.json").read_text())

    @classmethod
    def load_or_create(cls, directory: Path) -> TestCA:
        if (directory / "ca.json").exists():
            return cls.load(directory)
        ca = cls.create()
        ca.save(directory)
        return ca
