from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from adapters.jpki.crl import CrlCache, CrlError, parse_crls
from adapters.jpki.hierarchy import is_test_root
from adapters.jpki.links import LinkService, LinkServiceUnavailable
from adapters.jpki.verifier import (
    TrustStore,
    fingerprint,
    verify_card_signature,
    verify_certificate,
)
from domain.errors import RuleViolation
from simulators.jpki import CardLocked, TestCA, WrongPin
from tests.support import jlis_profile

NOW = datetime.now(UTC)
ISSUED = NOW - timedelta(hours=2)


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA.create()


def refusal(call) -> str:
    with pytest.raises(RuleViolation) as caught:
        call()
    return caught.value.code


def test_a_card_signature_over_the_nonce_verifies(ca: TestCA) -> None:
    card = ca.issue_card("4321")
    signature = card.sign(b"nonce", "4321")
    verify_card_signature(card.certificate, b"nonce", signature)
    assert refusal(lambda: verify_card_signature(card.certificate, b"other", signature)) == (
        "invalid_signature"
    )


def test_three_wrong_pins_in_a_row_lock_the_card(ca: TestCA) -> None:
    card = ca.issue_card("1234")
    with pytest.raises(WrongPin) as first:
        card.sign(b"n", "0000")
    assert first.value.attempts_left == 2
    card.sign(b"n", "1234")  # a right PIN resets the count
    for _ in range(2):
        with pytest.raises(WrongPin):
            card.sign(b"n", "9999")
    with pytest.raises(CardLocked):
        card.sign(b"n", "9999")
    with pytest.raises(CardLocked):
        card.sign(b"n", "1234")
    card.reset_pin("5678")
    assert card.sign(b"n", "5678")


def test_a_certificate_chains_to_its_own_root_only(ca: TestCA) -> None:
    card = ca.issue_card(issued_at=ISSUED)
    trusted = TrustStore([ca.certificate], allow_test_hierarchy=True)
    verified = verify_certificate(card.certificate, trusted, NOW)
    assert verified.serial_hex == card.serial_hex
    stranger = TrustStore([TestCA.create().certificate], allow_test_hierarchy=True)
    assert refusal(lambda: verify_certificate(card.certificate, stranger, NOW)) == (
        "untrusted_certificate"
    )


def reason(call) -> object:
    with pytest.raises(RuleViolation) as caught:
        call()
    return caught.value.extra.get("reason")


def test_signature_hierarchy_certificates_cannot_log_in_even_from_a_trusted_root() -> None:
    root = jlis_profile.make_root(jlis_profile.SIGNATURE_UNIT, NOW)
    card = jlis_profile.issue(
        root, issued_at=ISSUED, policies=(jlis_profile.SIGNATURE_POLICY,), signature=True
    )
    trusted = TrustStore([root.certificate], allow_test_hierarchy=False)
    assert reason(lambda: verify_certificate(card.certificate, trusted, NOW)) == (
        "signature_certificate"
    )


def test_the_accepted_user_authentication_policies_are_configurable() -> None:
    root = jlis_profile.make_root(jlis_profile.USER_AUTHENTICATION_UNIT, NOW)
    production = jlis_profile.issue(root, issued_at=ISSUED)
    other = jlis_profile.issue(root, issued_at=ISSUED, policies=("1.2.392.200149.8.5.1.3.99",))
    default = TrustStore([root.certificate], allow_test_hierarchy=False)
    assert verify_certificate(production.certificate, default, NOW).serial_hex
    assert reason(lambda: verify_certificate(other.certificate, default, NOW)) == "wrong_policy"
    both = TrustStore(
        [root.certificate],
        allow_test_hierarchy=False,
        accepted_policies=[jlis_profile.USER_AUTHENTICATION_POLICY, "1.2.392.200149.8.5.1.3.99"],
    )
    assert verify_certificate(other.certificate, both, NOW).serial_hex


def test_only_the_test_hierarchy_root_carries_the_test_mark(ca: TestCA) -> None:
    real_shaped = jlis_profile.make_root(jlis_profile.USER_AUTHENTICATION_UNIT, NOW)
    assert ca.certificate.subject == real_shaped.certificate.subject  # the J-LIS name
    assert is_test_root(ca.certificate)
    assert not is_test_root(real_shaped.certificate)
    leaf = ca.issue_card(issued_at=ISSUED).certificate
    assert "JPKI-TEST" not in leaf.public_bytes(serialization.Encoding.PEM).decode()
    assert b"JPKI-TEST" not in leaf.public_bytes(serialization.Encoding.DER)


def test_expired_certificates_are_refused(ca: TestCA) -> None:
    card = ca.issue_card(issued_at=NOW - timedelta(days=10), validity=timedelta(days=5))
    trusted = TrustStore([ca.certificate], allow_test_hierarchy=True)
    assert refusal(lambda: verify_certificate(card.certificate, trusted, NOW)) == (
        "certificate_expired"
    )


def test_production_refuses_test_roots(ca: TestCA) -> None:
    with pytest.raises(ValueError, match="test JPKI"):
        TrustStore([ca.certificate], allow_test_hierarchy=False)


# ----- trust: root generations and forgeries -------------------------------------------------


def test_two_root_generations_sharing_one_name_both_verify() -> None:
    old, new = TestCA.create(), TestCA.create()
    assert old.certificate.subject == new.certificate.subject
    trusted = TrustStore([old.certificate, new.certificate], allow_test_hierarchy=True)
    for ca in (old, new):
        verified = verify_certificate(ca.issue_card(issued_at=ISSUED).certificate, trusted, NOW)
        assert verified.issuer_fingerprint == fingerprint(ca.certificate)


def test_a_forged_ca_with_the_identical_name_is_refused(ca: TestCA) -> None:
    forged = TestCA.create()
    assert forged.certificate.subject == ca.certificate.subject
    card = forged.issue_card(issued_at=ISSUED)
    assert card.certificate.issuer == ca.certificate.subject
    trusted = TrustStore([ca.certificate], allow_test_hierarchy=True)
    assert refusal(lambda: verify_certificate(card.certificate, trusted, NOW)) == (
        "untrusted_certificate"
    )


def test_a_leaf_certificate_cannot_be_a_trust_anchor(ca: TestCA) -> None:
    with pytest.raises(ValueError, match="CA certificate"):
        TrustStore([ca.issue_card().certificate], allow_test_hierarchy=True)


def test_a_test_certificate_is_refused_where_test_hierarchies_are_not_allowed(ca: TestCA) -> None:
    trusted = TrustStore([ca.certificate], allow_test_hierarchy=True)
    trusted.allow_test_hierarchy = False  # e.g. an anchor file shared by mistake
    card = ca.issue_card(issued_at=ISSUED)
    assert refusal(lambda: verify_certificate(card.certificate, trusted, NOW)) == (
        "untrusted_certificate"
    )


# ----- activation: usable one hour after issue (FAQ) ----------------------------------------


def test_a_certificate_works_exactly_one_hour_after_issue(ca: TestCA) -> None:
    issued = NOW.replace(microsecond=0) - timedelta(days=1)
    card = ca.issue_card(issued_at=issued)
    trusted = TrustStore([ca.certificate], allow_test_hierarchy=True)
    with pytest.raises(RuleViolation) as caught:
        verify_certificate(card.certificate, trusted, issued + timedelta(minutes=59, seconds=59))
    assert caught.value.code == "certificate_not_yet_active"
    assert caught.value.extra["retry_at"] == (issued + timedelta(hours=1)).isoformat()
    assert caught.value.extra["retry_after_s"] == 1
    verify_certificate(card.certificate, trusted, issued + timedelta(hours=1))


# ----- CRLs ------------------------------------------------------------------------------------


def crl_cache(*roots: TestCA, grace: timedelta = timedelta(minutes=10)) -> CrlCache:
    trust = TrustStore([r.certificate for r in roots], allow_test_hierarchy=True)
    return CrlCache(["configured"], trust, grace=grace)


def test_a_revoked_certificate_is_refused_and_others_pass() -> None:
    ca = TestCA.create()
    revoked, good = ca.issue_card(issued_at=ISSUED), ca.issue_card(issued_at=ISSUED)
    ca.revoke(revoked.serial_hex)
    cache = crl_cache(ca)
    cache.accept(ca.crl(this_update=NOW), "file")
    issuer = fingerprint(ca.certificate)
    assert refusal(lambda: cache.check(revoked.serial_hex, issuer, NOW)) == "certificate_revoked"
    cache.check(good.serial_hex, issuer, NOW)


def test_a_crl_signed_by_a_forged_root_of_the_same_name_is_not_believed() -> None:
    ca, forged = TestCA.create(), TestCA.create()
    cache = crl_cache(ca)
    with pytest.raises(CrlError, match="not signed by a trusted"):
        cache.accept(forged.crl(this_update=NOW), "forged")
    card = ca.issue_card(issued_at=ISSUED)
    assert refusal(lambda: cache.check(card.serial_hex, fingerprint(ca.certificate), NOW)) == (
        "revocation_status_unavailable"
    )


def test_a_stale_crl_fails_closed_only_after_the_grace_period() -> None:
    ca = TestCA.create()
    card = ca.issue_card(issued_at=ISSUED)
    cache = crl_cache(ca, grace=timedelta(minutes=10))
    next_update = NOW.replace(microsecond=0) + timedelta(hours=1)
    cache.accept(ca.crl(this_update=NOW, next_update=next_update), "file")
    issuer = fingerprint(ca.certificate)
    cache.check(card.serial_hex, issuer, next_update + timedelta(minutes=10))
    late = next_update + timedelta(minutes=10, seconds=1)
    assert refusal(lambda: cache.check(card.serial_hex, issuer, late)) == (
        "revocation_status_unavailable"
    )


def test_an_older_crl_never_replaces_a_newer_one() -> None:
    ca = TestCA.create()
    card = ca.issue_card(issued_at=ISSUED)
    before = ca.crl(this_update=NOW - timedelta(hours=1))
    ca.revoke(card.serial_hex)
    cache = crl_cache(ca)
    cache.accept(ca.crl(this_update=NOW), "new")
    cache.accept(before, "replayed")
    assert refusal(lambda: cache.check(card.serial_hex, fingerprint(ca.certificate), NOW)) == (
        "certificate_revoked"
    )


def test_crls_parse_from_der_and_from_a_pem_bundle() -> None:
    one, two = TestCA.create(), TestCA.create()
    pem = b"".join(
        ca.crl(this_update=NOW).public_bytes(serialization.Encoding.PEM) for ca in (one, two)
    )
    assert len(parse_crls(pem)) == 2
    assert len(parse_crls(one.crl_der(this_update=NOW))) == 1
    with pytest.raises(CrlError):
        parse_crls(b"not a crl")


async def test_crl_sources_are_files_and_a_bad_source_is_reported(tmp_path: Path) -> None:
    ca = TestCA.create()
    card = ca.issue_card(issued_at=ISSUED)
    ca.revoke(card.serial_hex)
    good = tmp_path / "jpki.crl"
    good.write_bytes(ca.crl_der())
    trust = TrustStore([ca.certificate], allow_test_hierarchy=True)
    cache = CrlCache([str(good), str(tmp_path / "missing.crl")], trust, grace=timedelta(0))
    report = await cache.refresh()
    assert report.loaded == [str(good)]
    assert list(report.failed) == [str(tmp_path / "missing.crl")]
    now = datetime.now(UTC)
    assert refusal(lambda: cache.check(card.serial_hex, fingerprint(ca.certificate), now)) == (
        "certificate_revoked"
    )


def test_without_crl_sources_no_revocation_is_checked(ca: TestCA) -> None:
    trust = TrustStore([ca.certificate], allow_test_hierarchy=True)
    CrlCache([], trust, grace=timedelta(0)).check("abc", fingerprint(ca.certificate), NOW)


# ----- the linking service client ------------------------------------------------------------


def link_service(handler) -> LinkService:
    return LinkService("http://link.test", transport=httpx.MockTransport(handler))


async def test_the_linking_service_names_the_previous_serial_or_none() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/links/abc":
            return httpx.Response(200, json={"previous_serial": "00AB"})
        return httpx.Response(404)

    links = link_service(answer)
    assert await links.previous_serial("abc") == "ab"
    assert await links.previous_serial("def") is None
    await links.aclose()


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(503),
        httpx.Response(200, json={"unexpected": True}),
        httpx.Response(200, json={"previous_serial": "not hex"}),
        httpx.Response(200, content=b"<html>"),
    ],
)
async def test_anything_but_200_or_404_is_unavailable(answer: httpx.Response) -> None:
    links = link_service(lambda _: answer)
    with pytest.raises(LinkServiceUnavailable):
        await links.previous_serial("abc")
    await links.aclose()


async def test_an_unreachable_linking_service_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    links = link_service(refuse)
    with pytest.raises(LinkServiceUnavailable):
        await links.previous_serial("abc")
    await links.aclose()


# ----- reading extensions from the DER -------------------------------------------------------


def test_object_identifiers_decode_as_the_x509_library_encodes_them() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys

    from adapters.jpki.der import decode_oid, read_extensions

    key = rsa_keys.generate_private_key(public_exponent=65537, key_size=2048)
    for oid in ("1.2.392.200149.8.5.1.3.30", "2.5.29.32.0", "2.999.1", "1.3.6.1.4.1.311.21.8"):
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(x509.Name([]))
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(NOW)
            .not_valid_after(NOW + timedelta(days=1))
            .add_extension(
                x509.CertificatePolicies(
                    [x509.PolicyInformation(x509.ObjectIdentifier(oid), None)]
                ),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        assert read_extensions(certificate.tbs_certificate_bytes).policies == {oid}
    assert decode_oid(bytes([0x2A, 0x83, 0x08])) == "1.2.392"


def test_a_certificate_without_extensions_or_truncated_is_read_or_refused() -> None:
    from adapters.jpki.der import read_extensions

    root = jlis_profile.make_root(jlis_profile.USER_AUTHENTICATION_UNIT, NOW)
    bare = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(root.certificate.subject)
        .public_key(root.key.public_key())
        .serial_number(7)
        .not_valid_before(ISSUED)
        .not_valid_after(NOW + timedelta(days=1))
        .sign(root.key, hashes.SHA256())
    )
    view = read_extensions(bare.tbs_certificate_bytes)
    assert view.policies == frozenset() and not view.is_ca and view.extension_ids == ()
    trusted = TrustStore([root.certificate], allow_test_hierarchy=False)
    assert reason(lambda: verify_certificate(bare, trusted, NOW)) == "no_policy"
    tbs = jlis_profile.issue(root, issued_at=ISSUED).certificate.tbs_certificate_bytes
    for cut in (1, 10, len(tbs) // 2, len(tbs) - 1):
        with pytest.raises(ValueError):
            read_extensions(tbs[:cut])
