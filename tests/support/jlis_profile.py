"""Certificates built to the J-LIS profile of the My Number Card, independently of the hub.

Nothing here comes from the hub's code (no import from `adapters/`, `domain/` or `simulators/`):
the identifiers and names are written down from the published profile, so a mistake the hub
and its own test CA share cannot pass these tests. Sources, as cited in docs/architecture.md:

- certificate policies under 1.2.392.200149.8.5.1: 署名用 1.2.392.200149.8.5.1.1.20 and
  利用者証明用 1.2.392.200149.8.5.1.3.30; J-LIS's test environment signs with
  1.2.392.200149.8.5.1.0.20;
- personal data (基本4情報) as subjectAltName otherName entries 1.2.392.200149.8.5.5.1 (name),
  .2 (substitute characters of the name), .3 (gender), .4 (date of birth, EYYYYMMDD),
  .5 (address), .6 (substitute characters of the address), in the signature certificate only;
- issuer `C=JP, O=JPKI, OU=JPKI for user authentication | JPKI for digital signature,
  OU=Japan Agency for Local Authority Information Systems`; issuerAltName
  `C=JP, O=公的個人認証サービス`;
- key usage (critical): digitalSignature for 利用者証明用, digitalSignature + nonRepudiation
  for 署名用; a CRL distribution point per municipality; subject `C=JP, CN=<opaque>`;
- validity from issue to the fifth birthday after it, RSA-2048, sha256WithRSAEncryption.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

USER_AUTHENTICATION_POLICY = "1.2.392.200149.8.5.1.3.30"
SIGNATURE_POLICY = "1.2.392.200149.8.5.1.1.20"
JLIS_TEST_ENVIRONMENT_SIGNATURE_POLICY = "1.2.392.200149.8.5.1.0.20"
PERSONAL_DATA = {  # otherName type-id -> a value in the profile's format (a fictitious person)
    "1.2.392.200149.8.5.5.1": "公的　花子",
    "1.2.392.200149.8.5.5.2": "00000",
    "1.2.392.200149.8.5.5.3": "2",
    "1.2.392.200149.8.5.5.4": "419900102",
    "1.2.392.200149.8.5.5.5": "東京都清瀬市中里五丁目八四二番地",
    "1.2.392.200149.8.5.5.6": "0000000000000000",
}
USER_AUTHENTICATION_UNIT = "JPKI for user authentication"
SIGNATURE_UNIT = "JPKI for digital signature"
JLIS = "Japan Agency for Local Authority Information Systems"


def ca_name(unit: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, JLIS),
        ]
    )


def crl_distribution_point(unit: str) -> x509.CRLDistributionPoints:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "CRL Distribution Points"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Tokyo-to"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Kiyose-shi CRLDP"),
        ]
    )
    return x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.DirectoryName(name)], None, None, None)]
    )


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _usage(*, signature: bool = False, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=signature,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass
class Root:
    """One root generation of one hierarchy (generations share the name, never the key)."""

    unit: str
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    revoked: set[int] = field(default_factory=set)

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def crl_der(self, this_update: datetime, next_update: datetime) -> bytes:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(this_update)
            .next_update(next_update)
            .add_extension(x509.CRLNumber(int(this_update.timestamp())), critical=False)
        )
        for serial in sorted(self.revoked):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(this_update - timedelta(minutes=1))
                .build()
            )
        crl = builder.sign(self.key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.DER)


def make_root(unit: str, now: datetime) -> Root:
    key = _key()
    name = ca_name(unit)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=365))
        .not_valid_after(now + timedelta(days=20 * 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return Root(unit, key, certificate)


@dataclass(frozen=True)
class Card:
    """A certificate and the key the card holds for it."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def serial_hex(self) -> str:
        return format(self.certificate.serial_number, "x")

    def sign(self, nonce: bytes) -> bytes:
        return self.key.sign(nonce, padding.PKCS1v15(), hashes.SHA256())


def issue(
    root: Root,
    *,
    issued_at: datetime,
    not_after: datetime | None = None,
    policies: tuple[str, ...] = (USER_AUTHENTICATION_POLICY,),
    personal_data: bool = False,
    signature: bool = False,
) -> Card:
    key = _key()
    subject = [x509.NameAttribute(NameOID.COUNTRY_NAME, "JP")]
    if signature:  # the signature certificate names where the holder lives
        subject += [
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Tokyo-to"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Kiyose-shi"),
        ]
    subject.append(x509.NameAttribute(NameOID.COMMON_NAME, "2519FA0C7E3B04D9A1K0S3"))
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject))
        .issuer_name(root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(issued_at)
        .not_valid_after(not_after or issued_at + timedelta(days=5 * 365))
        .add_extension(_usage(signature=signature), critical=True)
        .add_extension(
            x509.IssuerAlternativeName(
                [
                    x509.DirectoryName(
                        x509.Name(
                            [
                                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                                x509.NameAttribute(
                                    NameOID.ORGANIZATION_NAME, "公的個人認証サービス"
                                ),
                            ]
                        )
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(crl_distribution_point(root.unit), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if policies:
        builder = builder.add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(x509.ObjectIdentifier(p), None) for p in policies]
            ),
            critical=False,
        )
    if personal_data:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.OtherName(x509.ObjectIdentifier(oid), _utf8_string(value))
                    for oid, value in PERSONAL_DATA.items()
                ]
            ),
            critical=False,
        )
    return Card(builder.sign(root.key, hashes.SHA256()), key)


def _utf8_string(text: str) -> bytes:
    value = text.encode()
    assert len(value) < 128
    return bytes([0x0C, len(value)]) + value


@dataclass
class FixtureSet:
    """The cases a login must tell apart, all issued to the profile."""

    user_authentication_roots: list[Root]  # two generations, one name
    signature_root: Root
    cards: dict[str, Card]

    @property
    def anchors_pem(self) -> str:
        """What an operator would install: both user-authentication generations, and (by
        mistake) the signature root too, which must not make a signature certificate pass."""
        roots = [*self.user_authentication_roots, self.signature_root]
        return "".join(root.pem for root in roots)


# The expected outcome of a login with each fixture: status, code and, for untrusted
# certificates, the reason the problem names.
EXPECTED = {
    "user_authentication": (201, None, None),
    "second_root_generation": (201, None, None),
    "signature_with_personal_data": (401, "untrusted_certificate", "signature_certificate"),
    "personal_data_under_user_authentication_policy": (
        401,
        "untrusted_certificate",
        "personal_data",
    ),
    "expired": (401, "certificate_expired", None),
    "not_yet_an_hour_old": (401, "certificate_not_yet_active", None),
    "revoked": (401, "certificate_revoked", None),
    "wrong_policy": (401, "untrusted_certificate", "wrong_policy"),
    "no_policy": (401, "untrusted_certificate", "no_policy"),
}


def build_fixture_set(now: datetime | None = None) -> FixtureSet:
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    first, second = (make_root(USER_AUTHENTICATION_UNIT, now) for _ in range(2))
    signing = make_root(SIGNATURE_UNIT, now)
    issued = now - timedelta(days=30)
    cards = {
        "user_authentication": issue(first, issued_at=issued),
        "second_root_generation": issue(second, issued_at=issued),
        "signature_with_personal_data": issue(
            signing,
            issued_at=issued,
            policies=(SIGNATURE_POLICY,),
            personal_data=True,
            signature=True,
        ),
        "personal_data_under_user_authentication_policy": issue(
            first, issued_at=issued, personal_data=True
        ),
        "expired": issue(
            first, issued_at=now - timedelta(days=5 * 365 + 2), not_after=now - timedelta(days=1)
        ),
        "not_yet_an_hour_old": issue(first, issued_at=now - timedelta(minutes=30)),
        "revoked": issue(first, issued_at=issued),
        "wrong_policy": issue(
            first, issued_at=issued, policies=(JLIS_TEST_ENVIRONMENT_SIGNATURE_POLICY,)
        ),
        "no_policy": issue(first, issued_at=issued, policies=()),
    }
    first.revoked.add(cards["revoked"].certificate.serial_number)
    assert set(cards) == set(EXPECTED)
    return FixtureSet([first, second], signing, cards)
