"""Property: no mutation of a valid certificate gets through the login checks.

The certificate's DER is walked to find its signature, its validity dates and its issuer name;
random bit flips there (and re-issued look-alikes signed by a forger) must all be refused, while
the untouched certificate passes the very same checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from adapters.jpki.hierarchy import USER_AUTHENTICATION_POLICY
from adapters.jpki.verifier import (
    TrustStore,
    parse_certificate,
    verify_card_signature,
    verify_certificate,
)
from domain.errors import RuleViolation
from simulators.jpki import TestCA

NOW = datetime.now(UTC)
NONCE = b"a login challenge nonce of 32 b."

CA = TestCA.create()
FORGER = TestCA.create()  # the same name as CA, another key


def _rsa_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


FORGER_KEY = _rsa_key(FORGER.private_key_pem)
TRUST = TrustStore([CA.certificate], allow_test_hierarchy=True)
CARD = CA.issue_card("1234", issued_at=NOW - timedelta(days=3))
SIGNATURE = CARD.sign(NONCE, "1234")
DER = CARD.certificate_der


def outcome(der: bytes, signature: bytes = SIGNATURE) -> str:
    """What a login with this certificate and signature gets: a refusal code or "accepted"."""
    try:
        certificate = parse_certificate(der)
        verify_card_signature(certificate, NONCE, signature)
        verify_certificate(certificate, TRUST, NOW)
    except RuleViolation as refused:
        return refused.code
    return "accepted"


@dataclass(frozen=True)
class Element:
    start: int  # first content byte
    end: int


def _element(data: bytes, offset: int) -> tuple[Element, int]:
    """The DER element at `offset`: its content span, and the offset after it."""
    length = data[offset + 1]
    header = 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[offset + 2 : offset + 2 + count], "big")
        header += count
    start = offset + header
    return Element(start, start + length), start + length


def _children(data: bytes, parent: Element) -> list[Element]:
    found, offset = [], parent.start
    while offset < parent.end:
        element, offset = _element(data, offset)
        found.append(element)
    return found


def regions(der: bytes) -> dict[str, Element]:
    certificate, _ = _element(der, 0)
    tbs, _algorithm, signature = _children(der, certificate)
    fields = _children(der, tbs)
    offset = 1 if der[tbs.start] == 0xA0 else 0  # the explicit [0] version
    issuer, validity = fields[offset + 2], fields[offset + 3]
    return {
        "signature": Element(signature.start + 1, signature.end),  # after the unused-bits byte
        "validity": validity,
        "issuer": issuer,
    }


REGIONS = regions(DER)


def flip(data: bytes, region: Element, flips: list[tuple[int, int]]) -> bytes:
    mutated = bytearray(data)
    for position, bit in flips:
        mutated[region.start + position % (region.end - region.start)] ^= 1 << bit
    return bytes(mutated)


def test_the_untouched_certificate_is_accepted() -> None:
    assert outcome(DER) == "accepted"
    assert REGIONS["validity"].end - REGIONS["validity"].start == 30  # two UTCTime values
    assert DER[REGIONS["issuer"].start :].startswith(b"\x31")  # a SET of the first RDN


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.sampled_from(sorted(REGIONS)),
    flips=st.lists(
        st.tuples(st.integers(min_value=0, max_value=4096), st.integers(0, 7)),
        min_size=1,
        max_size=6,
    ),
)
def test_bit_flips_in_signature_validity_or_issuer_are_refused(
    where: str, flips: list[tuple[int, int]]
) -> None:
    mutated = flip(DER, REGIONS[where], flips)
    assume(mutated != DER)
    assert outcome(mutated) == "untrusted_certificate"


@settings(max_examples=200, deadline=None)
@given(flips=st.lists(st.tuples(st.integers(0, 255), st.integers(0, 7)), min_size=1, max_size=4))
def test_bit_flips_in_the_login_signature_are_refused(flips: list[tuple[int, int]]) -> None:
    mutated = flip(SIGNATURE, Element(0, len(SIGNATURE)), flips)
    assume(mutated != SIGNATURE)
    assert outcome(DER, mutated) == "invalid_signature"


@settings(max_examples=60, deadline=None)
@given(
    not_before=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
    days=st.integers(min_value=1, max_value=20 * 365),
    issuer_name=st.one_of(
        st.just(CA.certificate.subject),
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ-", min_size=1, max_size=40).map(
            lambda cn: x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        ),
    ),
)
def test_a_forger_reissuing_with_any_dates_or_issuer_name_is_refused(
    not_before: datetime, days: int, issuer_name: x509.Name
) -> None:
    forged = (
        x509.CertificateBuilder()
        .subject_name(CARD.certificate.subject)
        .issuer_name(issuer_name)
        .public_key(CARD.certificate.public_key())
        .serial_number(CARD.certificate.serial_number)
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(USER_AUTHENTICATION_POLICY, None)]),
            critical=False,
        )
        .sign(FORGER_KEY, hashes.SHA256())
    )
    assert outcome(forged.public_bytes(serialization.Encoding.DER)) == "untrusted_certificate"
