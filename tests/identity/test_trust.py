"""Which certificates the hub trusts: any configured root generation, chosen by signature; never
a look-alike CA, never the signature hierarchy, never a test hierarchy in production."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.app import build_context
from hub.settings import Environment, Settings
from simulators.jpki import TestCA
from tests.identity.conftest import IdentityHub, proof_body
from tests.support import jlis_profile


async def test_two_root_generations_sharing_one_name_both_log_in(ihub: IdentityHub) -> None:
    old, new = ihub.cas
    assert old.certificate.subject == new.certificate.subject
    for ca in (old, new):
        response = await ihub.login(ihub.card(ca=ca))
        assert response.status_code == 201, response.text


async def test_a_certificate_naming_a_trusted_root_but_signed_by_another_key_is_refused(
    ihub: IdentityHub,
) -> None:
    forged = TestCA.create()
    card = ihub.card(ca=forged)
    assert card.certificate.issuer == ihub.ca.certificate.subject
    response = await ihub.login(card)
    assert response.status_code == 401
    assert response.json()["code"] == "untrusted_certificate"


async def test_a_signature_hierarchy_certificate_cannot_log_in(ihub: IdentityHub) -> None:
    root = jlis_profile.make_root(jlis_profile.SIGNATURE_UNIT, ihub.clock())
    card = jlis_profile.issue(
        root,
        issued_at=ihub.clock() - timedelta(days=1),
        policies=(jlis_profile.SIGNATURE_POLICY,),
        personal_data=True,
        signature=True,
    )
    challenge_id, nonce = await ihub.challenge()
    body = proof_body(ihub.card(), challenge_id, card.sign(nonce))
    body["certificate"] = base64.b64encode(card.der).decode()
    response = await ihub.http.post("/v1/auth/sessions", json=body)
    assert response.status_code == 401
    assert response.json()["code"] == "untrusted_certificate"
    assert response.json()["reason"] == "signature_certificate"


async def test_garbage_in_place_of_a_certificate_is_refused_not_a_500(ihub: IdentityHub) -> None:
    body = await ihub.signed(ihub.card())
    body["certificate"] = "bm90IGEgY2VydGlmaWNhdGU="
    response = await ihub.http.post("/v1/auth/sessions", json=body)
    assert response.status_code == 401
    assert response.json()["code"] == "untrusted_certificate"
    body = await ihub.signed(ihub.card())
    body["signature"] = "%%%"
    response = await ihub.http.post("/v1/auth/sessions", json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_production_refuses_test_hierarchies(tmp_path: Path) -> None:
    root = tmp_path / "root.pem"
    root.write_text(TestCA.create().certificate_pem)
    with pytest.raises(ValidationError) as refused:
        Settings(env=Environment.PRODUCTION, jpki_trust_anchors=[root])
    assert "HUB_JPKI_ALLOW_TEST_HIERARCHY must be false" in str(refused.value)
    assert "holds a root of the test JPKI hierarchy" in str(refused.value)
    # Whatever else production requires, a test root never makes it into the trust store.
    production = Settings(
        env=Environment.TEST,
        jpki_trust_anchors=[root],
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
    ).model_copy(update={"env": Environment.PRODUCTION, "jpki_allow_test_hierarchy": False})
    with pytest.raises(ValueError, match="test JPKI hierarchies are not trusted in production"):
        build_context(production)


def test_production_needs_crl_sources_and_the_linking_service() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(env=Environment.PRODUCTION)
    assert "HUB_JPKI_CRL_SOURCES is empty" in str(caught.value)
    assert "HUB_JPKI_LINK_SERVICE_URL is empty" in str(caught.value)


def test_the_api_refuses_to_start_in_production_with_a_test_root(tmp_path: Path) -> None:
    """What an operator sees: one line naming the anchor file, exit status 2, no traceback."""
    anchors = tmp_path / "roots.pem"
    real = jlis_profile.make_root(jlis_profile.USER_AUTHENTICATION_UNIT, datetime.now(UTC))
    anchors.write_text(real.pem + TestCA.create().certificate_pem)
    environment = {
        **os.environ,
        "HUB_ENV": "production",
        "HUB_OPERATOR_BOOTSTRAP_KEY": "a-long-random-operator-key",
        "HUB_TOKEN_SECRET": "a-long-random-token-secret",
        "HUB_QR_SIGNING_KEY": "a-long-random-qr-key",
        "HUB_CONSOLE_SESSION_SECRET": "a-long-random-console-secret",
        "HUB_AUDIT_HMAC_KEY": "a-long-random-audit-key",
        "HUB_PAYLOAD_KEYS": "k1:" + base64.b64encode(bytes(range(32))).decode(),
        "HUB_JPKI_ALLOW_TEST_HIERARCHY": "false",
        "HUB_JPKI_TRUST_ANCHORS": str(anchors),
        "HUB_JPKI_CRL_SOURCES": "https://jpki.example/crl/user-authentication.crl",
        "HUB_JPKI_LINK_SERVICE_URL": "https://jpki.example/link",
        "HUB_DATABASE_URL": "postgresql://hub@db.invalid/hub",
    }
    started = subprocess.run(
        [sys.executable, "-m", "cli", "api", "--port", "1"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode == 2, started.stderr
    assert started.stderr.splitlines() == [
        "the hub's configuration is refused (HUB_* settings):",
        f"  - HUB_JPKI_TRUST_ANCHORS {anchors} holds a root of the test JPKI hierarchy "
        "(subjectAltName O=JPKI-TEST), and production trusts J-LIS roots only",
    ]
