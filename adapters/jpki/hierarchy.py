"""Which JPKI hierarchy a certificate belongs to, by the J-LIS profile (`domain/jpki_profile.py`).

JPKI issues two certificates per card: the signature certificate (署名用, carries name, date of
birth, gender and address, signs documents) and the user-authentication certificate (利用者証明用,
opaque, logs in). Only the latter may log in. They are told apart by their certificate policy;
a certificate carrying personal-data fields is refused whatever its policy says, and those
fields are never read (`adapters/jpki/der.py`).

The project's own test hierarchy issues leaves exactly like J-LIS; only its root is marked
(`TEST_ROOT_ORGANIZATION` in a subjectAltName directory name), so production can refuse it.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from cryptography import x509
from cryptography.x509.oid import NameOID

from adapters.jpki.der import ExtensionView
from domain import jpki_profile as profile

_ATTRIBUTES = {
    "C": NameOID.COUNTRY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
}


def x509_name(pairs: Iterable[tuple[str, str]]) -> x509.Name:
    return x509.Name([x509.NameAttribute(_ATTRIBUTES[kind], value) for kind, value in pairs])


USER_AUTHENTICATION_CA_NAME = x509_name(profile.USER_AUTHENTICATION_CA_NAME)
SIGNATURE_CA_NAME = x509_name(profile.SIGNATURE_CA_NAME)
USER_AUTHENTICATION_POLICY = x509.ObjectIdentifier(profile.USER_AUTHENTICATION_POLICY)
SIGNATURE_POLICY = x509.ObjectIdentifier(profile.SIGNATURE_POLICY)


class Refusal(StrEnum):
    """Why a certificate is not a user-authentication certificate (the problem's `reason`)."""

    SIGNATURE_CERTIFICATE = "signature_certificate"
    PERSONAL_DATA = "personal_data"
    WRONG_POLICY = "wrong_policy"
    NO_POLICY = "no_policy"
    CA_CERTIFICATE = "ca_certificate"


REFUSAL_DETAILS = {
    Refusal.SIGNATURE_CERTIFICATE: (
        "this is the card's signature certificate (署名用電子証明書); log in with the "
        "user-authentication certificate (利用者証明用電子証明書)"
    ),
    Refusal.PERSONAL_DATA: (
        "the certificate carries personal data (基本4情報), which only a signature certificate "
        "does; log in with the user-authentication certificate (利用者証明用電子証明書)"
    ),
    Refusal.WRONG_POLICY: (
        "the certificate's policy is not that of a user-authentication certificate "
        "(利用者証明用電子証明書)"
    ),
    Refusal.NO_POLICY: (
        "the certificate names no certificate policy, so it is not a user-authentication "
        "certificate (利用者証明用電子証明書)"
    ),
    Refusal.CA_CERTIFICATE: "a CA certificate cannot log in",
}


def refusal_of(view: ExtensionView, accepted_policies: frozenset[str]) -> Refusal | None:
    """None when `view` is a user-authentication certificate under `accepted_policies`.

    The signature policy and personal data are looked at first: either is a signature
    certificate whatever else it claims.
    """
    if profile.SIGNATURE_POLICY in view.policies:
        return Refusal.SIGNATURE_CERTIFICATE
    if any(profile.is_personal_data_field(oid) for oid in view.other_name_types):
        return Refusal.PERSONAL_DATA
    if view.is_ca:
        return Refusal.CA_CERTIFICATE
    if not view.policies:
        return Refusal.NO_POLICY
    if not view.policies & accepted_policies:
        return Refusal.WRONG_POLICY
    return None


def _organizations(name: x509.Name) -> set[str]:
    return {str(a.value) for a in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)}


def is_test_root(anchor: x509.Certificate) -> bool:
    """A root of the project's test hierarchy (`simulators/jpki.py`), never a J-LIS root.

    Its mark is a subjectAltName directory name with organisation `JPKI-TEST`; roots made
    before the test hierarchy followed the J-LIS profile carried it in their subject.
    """
    if profile.TEST_ROOT_ORGANIZATION in _organizations(anchor.subject):
        return True
    try:
        names = anchor.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return any(
        profile.TEST_ROOT_ORGANIZATION in _organizations(directory)
        for directory in names.get_values_for_type(x509.DirectoryName)
    )
