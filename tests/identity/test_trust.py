"""Which certificates the hub trusts: any configured root generation, chosen by signature; never
a look-alike CA, never the signature hierarchy, never a test hierarchy in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from adapters.jpki.hierarchy import SIGNATURE_POLICY
from api.app import build_context
from hub.settings import Environment, Settings
from simulators.jpki import TestCA
from tests.identity.conftest import IdentityHub


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
    card = ihub.card(policy=SIGNATURE_POLICY)
    response = await ihub.login(card)
    assert response.status_code == 401
    assert response.json()["code"] == "untrusted_certificate"


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
    with pytest.raises(ValidationError, match="HUB_JPKI_ALLOW_TEST_HIERARCHY must be false"):
        Settings(env=Environment.PRODUCTION, jpki_trust_anchors=[root])
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
