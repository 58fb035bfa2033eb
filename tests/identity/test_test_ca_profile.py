"""The project's test CA issues leaves in the same J-LIS profile as the independent builder
(`tests/support/jlis_profile.py`): a test card is indistinguishable from a real one except by
the root it chains to, so tests and `mph demo` exercise the production checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtensionOID, NameOID, SignatureAlgorithmOID

from simulators.jpki import TestCA
from tests.support import jlis_profile

JST_END = (14, 59, 59)  # 23:59:59 JST in UTC


def extensions(certificate: x509.Certificate) -> dict[x509.ObjectIdentifier, bool]:
    return {e.oid: e.critical for e in certificate.extensions}


def test_a_test_card_certificate_has_the_profile_of_a_real_one() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    test_leaf = TestCA.create().issue_card(issued_at=now).certificate
    root = jlis_profile.make_root(jlis_profile.USER_AUTHENTICATION_UNIT, now)
    real_leaf = jlis_profile.issue(root, issued_at=now).certificate

    assert test_leaf.issuer == jlis_profile.ca_name(jlis_profile.USER_AUTHENTICATION_UNIT)
    assert test_leaf.issuer == real_leaf.issuer
    assert extensions(test_leaf) == extensions(real_leaf)
    for kind in (
        x509.KeyUsage,
        x509.CertificatePolicies,
        x509.IssuerAlternativeName,
    ):
        assert (
            test_leaf.extensions.get_extension_for_class(kind).value
            == real_leaf.extensions.get_extension_for_class(kind).value
        ), kind
    [policy] = test_leaf.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert policy.policy_identifier.dotted_string == jlis_profile.USER_AUTHENTICATION_POLICY
    assert ExtensionOID.SUBJECT_ALTERNATIVE_NAME not in extensions(test_leaf)  # no personal data

    [point] = test_leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    [real_point] = real_leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert point.full_name is not None and real_point.full_name is not None
    [directory], [real_directory] = point.full_name, real_point.full_name
    assert isinstance(directory, x509.DirectoryName)
    assert isinstance(real_directory, x509.DirectoryName)
    assert (
        list(directory.value)[:4] == list(real_directory.value)[:4]
    )  # …, OU=CRL Distribution Points
    assert str(list(directory.value)[-1].value).endswith(" CRLDP")

    assert [a.oid for a in test_leaf.subject] == [NameOID.COUNTRY_NAME, NameOID.COMMON_NAME]
    key = test_leaf.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    assert test_leaf.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256


def test_a_test_card_is_valid_from_issue_to_a_fifth_birthday_at_midnight_jst() -> None:
    issued = datetime(2025, 10, 27, 3, 0, tzinfo=UTC)
    certificate = TestCA.create(now=issued).issue_card(issued_at=issued).certificate
    assert certificate.not_valid_before_utc == issued
    end = certificate.not_valid_after_utc
    assert (end.hour, end.minute, end.second) == JST_END
    assert timedelta(days=4 * 365) < end - issued <= timedelta(days=5 * 366)
