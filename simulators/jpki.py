"""A test CA of the JPKI user-authentication hierarchy and a software My Number Card.

The CA issues leaf certificates in the J-LIS profile of the real 利用者証明用電子証明書
(`domain/jpki_profile.py`, docs/architecture.md): the issuer name of J-LIS's user-authentication
CA, the policy `1.2.392.200149.8.5.1.3.30`, key usage digitalSignature (critical), a CRL
distribution point, issuerAltName `C=JP, O=公的個人認証サービス`, and validity until the holder's
fifth birthday after issue. So tests and demos exercise the same checks as a real card. What
marks the hierarchy as a test one lives only in its root: a subjectAltName directory name with
organisation `JPKI-TEST`, which production refuses among its trust anchors.

The virtual card behaves like the real one where the hub can tell: RSA-2048 key, PKCS#1 v1.5
signatures with SHA-256, a 4-digit PIN and a lock after three wrong PINs in a row.
"""

from __future__ import annotations

import json
import os
import random
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from adapters.jpki.hierarchy import USER_AUTHENTICATION_CA_NAME, USER_AUTHENTICATION_POLICY
from domain import jpki_profile

PIN_ATTEMPTS = 3
JST = timezone(timedelta(hours=9))
ROOT_VALIDITY = timedelta(days=20 * 365)
# The municipality whose CRL distribution point test leaves name (the profile names the
# holder's municipality there, under its prefecture).
CRL_PREFECTURE = "Tokyo-to"
CRL_MUNICIPALITY = "Chiyoda-ku"


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


TEST_ROOT_MARK = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, jpki_profile.TEST_ROOT_ORGANIZATION),
        x509.NameAttribute(NameOID.COMMON_NAME, "Municipal Mynapoint Hub test hierarchy"),
    ]
)
ISSUER_ALT = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, jpki_profile.ISSUER_ALT_ORGANIZATION),
    ]
)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """A leaf signs login challenges only (digitalSignature); a root signs certificates and CRLs."""
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _crl_distribution_point() -> x509.CRLDistributionPoints:
    """A directory name per municipality: `C=JP, O=JPKI, OU=JPKI for user authentication,
    OU=CRL Distribution Points, OU=<prefecture>, CN=<municipality> CRLDP`."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, jpki_profile.JPKI_ORGANIZATION),
            x509.NameAttribute(
                NameOID.ORGANIZATIONAL_UNIT_NAME, jpki_profile.USER_AUTHENTICATION_UNIT
            ),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "CRL Distribution Points"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, CRL_PREFECTURE),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{CRL_MUNICIPALITY} CRLDP"),
        ]
    )
    point = x509.DistributionPoint([x509.DirectoryName(name)], None, None, None)
    return x509.CRLDistributionPoints([point])


def _random_birthday() -> date:
    return date(2000, 1, 1) + timedelta(days=random.randrange(366))


def fifth_birthday_after(issued_at: datetime, birthday: date) -> datetime:
    """The end of a card certificate's validity: 23:59:59 JST on the holder's fifth birthday
    after the day of issue (J-LIS: 発行の日後の5回目の誕生日)."""
    issued_on = issued_at.astimezone(JST).date()
    later_this_year = (birthday.month, birthday.day) > (issued_on.month, issued_on.day)
    year = issued_on.year + (4 if later_this_year else 5)
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    day = 28 if (birthday.month, birthday.day) == (2, 29) and not leap else birthday.day
    end = datetime.combine(date(year, birthday.month, day), time(23, 59, 59), JST)
    return end.astimezone(UTC)


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
    _key: rsa.RSAPrivateKey | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def create(cls, *, now: datetime | None = None) -> TestCA:
        """A new root generation: J-LIS's user-authentication CA name, a new key, the test mark."""
        now = now or datetime.now(UTC)
        key = _new_key()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(USER_AUTHENTICATION_CA_NAME)
            .issuer_name(USER_AUTHENTICATION_CA_NAME)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + ROOT_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.SubjectAlternativeName([x509.DirectoryName(TEST_ROOT_MARK)]), critical=False
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
        validity: timedelta | None = None,
        birthday: date | None = None,
    ) -> x509.Certificate:
        """A user-authentication certificate in the J-LIS profile: subject `C=JP, CN=<opaque>`,
        no name or address. `validity` overrides the profile's end (the fifth birthday after
        issue, 23:59:59 JST), for certificates that must expire in a test."""
        issued_at = issued_at or datetime.now(UTC)
        not_after = (
            issued_at + validity
            if validity is not None
            else fifth_birthday_after(issued_at, birthday or _random_birthday())
        )
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.COMMON_NAME, secrets.token_hex(12).upper()),
            ]
        )
        root = self.certificate
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(root.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(issued_at)
            .not_valid_after(not_after)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(
                x509.CertificatePolicies(
                    [x509.PolicyInformation(USER_AUTHENTICATION_POLICY, None)]
                ),
                critical=False,
            )
            .add_extension(x509.IssuerAlternativeName([x509.DirectoryName(ISSUER_ALT)]), False)
            .add_extension(_crl_distribution_point(), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
            .sign(self._signing_key(), hashes.SHA256())
        )

    def _signing_key(self) -> rsa.RSAPrivateKey:
        """Loaded once: checking an RSA key on load costs more than signing a certificate."""
        if self._key is None:
            self._key = _load_key(self.private_key_pem)
        return self._key

    def issue_card(
        self,
        pin: str = "1234",
        *,
        issued_at: datetime | None = None,
        validity: timedelta | None = None,
    ) -> VirtualCard:
        _check_pin(pin)
        key = _new_key()
        certificate = self.issue_certificate(
            key.public_key(), issued_at=issued_at, validity=validity
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
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.certificate.public_key()  # type: ignore[arg-type]
                ),
                critical=False,
            )
        )
        for serial_hex, at in sorted(self.revoked.items()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(int(serial_hex, 16))
                .revocation_date(datetime.fromisoformat(at))
                .build()
            )
        return builder.sign(self._signing_key(), hashes.SHA256())

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
