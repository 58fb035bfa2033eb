"""Facts of the J-LIS certificate profile of the My Number Card, as identifiers (no I/O).

The authority is J-LIS's profile specification (公的個人認証サービス 署名用電子証明書及び
利用者証明用電子証明書のプロファイル仕様書); docs/architecture.md ("The J-LIS certificate profile")
lists the public sources each fact was checked against.

- Certificate policies live under `1.2.392.200149.8.5.1`: the signature certificate (署名用)
  carries `…1.1.20`, the user-authentication certificate (利用者証明用) `…1.3.30`.
- `1.2.392.200149.8.5.5` is not a policy: its children name the personal-data fields
  (基本4情報) that only the signature certificate carries as subjectAltName otherName entries.
- The issuing CAs are named `C=JP, O=JPKI, OU=JPKI for user authentication|JPKI for digital
  signature, OU=Japan Agency for Local Authority Information Systems`.
"""

from __future__ import annotations

POLICY_ARC = "1.2.392.200149.8.5.1"
SIGNATURE_POLICY = f"{POLICY_ARC}.1.20"  # jpki-cp-sign-class20, 署名用電子証明書
USER_AUTHENTICATION_POLICY = f"{POLICY_ARC}.3.30"  # jpki-cp-auth-class30, 利用者証明用電子証明書

PERSONAL_DATA_ARC = "1.2.392.200149.8.5.5"
PERSONAL_DATA_FIELDS = {
    f"{PERSONAL_DATA_ARC}.1": "name (氏名)",
    f"{PERSONAL_DATA_ARC}.2": "substitute characters of the name",
    f"{PERSONAL_DATA_ARC}.3": "gender (性別)",
    f"{PERSONAL_DATA_ARC}.4": "date of birth (生年月日)",
    f"{PERSONAL_DATA_ARC}.5": "address (住所)",
    f"{PERSONAL_DATA_ARC}.6": "substitute characters of the address",
}

JPKI_ORGANIZATION = "JPKI"
JLIS_UNIT = "Japan Agency for Local Authority Information Systems"
USER_AUTHENTICATION_UNIT = "JPKI for user authentication"
SIGNATURE_UNIT = "JPKI for digital signature"
# (attribute, value) in order, as the issuing CA's distinguished name reads.
USER_AUTHENTICATION_CA_NAME = (
    ("C", "JP"),
    ("O", JPKI_ORGANIZATION),
    ("OU", USER_AUTHENTICATION_UNIT),
    ("OU", JLIS_UNIT),
)
SIGNATURE_CA_NAME = (
    ("C", "JP"),
    ("O", JPKI_ORGANIZATION),
    ("OU", SIGNATURE_UNIT),
    ("OU", JLIS_UNIT),
)
# What the real leaves carry as issuerAltName: C=JP, O=公的個人認証サービス.
ISSUER_ALT_ORGANIZATION = "公的個人認証サービス"

# The project's own test hierarchy (simulators/jpki.py) is marked in its root only: a
# subjectAltName directory name with this organisation. Production refuses such a root.
TEST_ROOT_ORGANIZATION = "JPKI-TEST"


def is_oid(value: str) -> bool:
    """A dotted object identifier: at least two arcs of digits, the first 0, 1 or 2."""
    parts = value.split(".")
    return (
        len(parts) >= 2
        and all(part.isdigit() and (part == "0" or not part.startswith("0")) for part in parts)
        and parts[0] in {"0", "1", "2"}
    )


def is_personal_data_field(oid: str) -> bool:
    return oid.startswith(f"{PERSONAL_DATA_ARC}.")
