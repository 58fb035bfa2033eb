"""Names and object identifiers that tell JPKI's two certificate hierarchies apart.

JPKI issues two certificates per card: the signature certificate (署名用, carries name and
address, used to sign documents) and the user-authentication certificate (利用者証明用, opaque,
used to log in). The hub accepts only the latter. Each hierarchy marks its certificates with its
own certificate-policy OID under JPKI's arc; the test CA of this project uses the same layout
under a private arc and the organisation name below, so that production can refuse it.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

JPKI_ARC = "1.2.392.200149.8.5.5"
USER_AUTHENTICATION_POLICY = x509.ObjectIdentifier(f"{JPKI_ARC}.2.1")
SIGNATURE_POLICY = x509.ObjectIdentifier(f"{JPKI_ARC}.1.1")

TEST_ORGANIZATION = "JPKI-TEST"


def policies_of(certificate: x509.Certificate) -> set[x509.ObjectIdentifier]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.CertificatePolicies)
    except x509.ExtensionNotFound:
        return set()
    return {p.policy_identifier for p in extension.value}


def is_user_authentication(certificate: x509.Certificate) -> bool:
    return USER_AUTHENTICATION_POLICY in policies_of(certificate)


def is_test_hierarchy(certificate: x509.Certificate) -> bool:
    """Certificates (and roots) made by the project's own test CA."""
    for name in (certificate.subject, certificate.issuer):
        for attribute in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME):
            if attribute.value == TEST_ORGANIZATION:
                return True
    return False
