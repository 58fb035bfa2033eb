"""Logins with certificates built to the J-LIS profile by an independent builder
(`tests/support/jlis_profile.py`), through the production trust path (test hierarchies refused):
a user-authentication certificate of either root generation logs in; every other case is
refused with its code (and, for an untrusted certificate, its reason), writing nothing; and the
signature certificate's personal data is never read, logged or stored."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography import x509
from sqlalchemy import MetaData, select
from temporalio.testing import WorkflowEnvironment

from adapters.jpki.der import read_extensions
from adapters.jpki.verifier import TrustStore, verify_certificate
from domain.errors import RuleViolation
from tests.identity.conftest import Clock, IdentityHub, identity_hub
from tests.support.jlis_profile import EXPECTED, PERSONAL_DATA, Card, FixtureSet, build_fixture_set


@pytest.fixture(scope="module")
async def profile_hub(
    session_tmp: Path, temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[IdentityHub, FixtureSet]]:
    clock = Clock()
    fixtures = build_fixture_set(clock())
    crl_dir = tmp_path_factory.mktemp("jlis-crls")
    sources = []
    roots = [*fixtures.user_authentication_roots, fixtures.signature_root]
    for number, root in enumerate(roots):
        path = crl_dir / f"jpki-{number}.crl"
        path.write_bytes(root.crl_der(clock(), clock() + timedelta(hours=24)))
        sources.append(str(path))
    async with identity_hub(
        session_tmp,
        temporal_env,
        cas=[],
        clock=clock,
        anchors_pem=fixtures.anchors_pem,
        jpki_crl_sources=sources,
        jpki_allow_test_hierarchy=False,  # as production: only J-LIS-shaped roots
    ) as hub:
        yield hub, fixtures


async def login(hub: IdentityHub, card: Card) -> Any:
    challenge_id, nonce = await hub.challenge()
    body = {
        "challenge_id": challenge_id,
        "certificate": base64.b64encode(card.der).decode(),
        "signature": base64.b64encode(card.sign(nonce)).decode(),
    }
    return await hub.http.post("/v1/auth/sessions", json=body)


@pytest.mark.parametrize("case", sorted(EXPECTED))
async def test_each_fixture_logs_in_or_is_refused_with_its_code(
    profile_hub: tuple[IdentityHub, FixtureSet], case: str
) -> None:
    hub, fixtures = profile_hub
    status, code, reason = EXPECTED[case]
    before = await hub.counts()
    response = await login(hub, fixtures.cards[case])
    assert response.status_code == status, response.text
    if status == 201:
        assert response.json()["mykey_issued"] is True
        assert (await hub.counts()).mykeys == before.mykeys + 1
        return
    problem = response.json()
    assert problem["code"] == code, problem
    assert problem.get("reason") == reason, problem
    assert await hub.counts() == before


async def test_the_signature_certificate_is_told_apart_from_an_untrusted_one(
    profile_hub: tuple[IdentityHub, FixtureSet],
) -> None:
    hub, fixtures = profile_hub
    response = await login(hub, fixtures.cards["signature_with_personal_data"])
    assert "署名用電子証明書" in response.json()["detail"]
    assert "利用者証明用電子証明書" in response.json()["detail"]


async def test_personal_data_is_never_logged_stored_or_answered(
    profile_hub: tuple[IdentityHub, FixtureSet], caplog: pytest.LogCaptureFixture
) -> None:
    hub, fixtures = profile_hub
    caplog.set_level(logging.DEBUG)
    card = fixtures.cards["signature_with_personal_data"]
    response = await login(hub, card)
    assert response.status_code == 401
    values = [PERSONAL_DATA[f"1.2.392.200149.8.5.5.{n}"] for n in (1, 4, 5)]  # name, birth, address
    assert values and all(v.encode() in card.der for v in values)  # they are in the certificate
    seen = [response.text] + [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    metadata = MetaData()
    async with hub.ctx.engine.connect() as connection:
        await connection.run_sync(metadata.reflect)
        for table in metadata.sorted_tables:
            for row in (await connection.execute(select(table))).all():
                seen.append(repr(tuple(row)))
    leaks = [value for value in values for text in seen if value in text]
    assert leaks == []
    assert any("audit" in t.name for t in metadata.sorted_tables)


class ExtensionsUntouched:
    """A certificate whose extensions may not be decoded: only the raw to-be-signed bytes."""

    def __init__(self, certificate: x509.Certificate) -> None:
        self._certificate = certificate

    def __getattr__(self, name: str) -> Any:
        if name == "extensions":
            raise AssertionError("the login decoded the extensions of a presented certificate")
        return getattr(self._certificate, name)


def test_the_verifier_decides_without_decoding_any_extension() -> None:
    fixtures = build_fixture_set()
    trust = TrustStore(
        [r.certificate for r in (*fixtures.user_authentication_roots, fixtures.signature_root)],
        allow_test_hierarchy=False,
    )
    now = fixtures.cards["user_authentication"].certificate.not_valid_before_utc + timedelta(days=1)
    good = cast(
        x509.Certificate, ExtensionsUntouched(fixtures.cards["user_authentication"].certificate)
    )
    assert verify_certificate(good, trust, now).serial_hex
    signature = fixtures.cards["signature_with_personal_data"].certificate
    with pytest.raises(RuleViolation) as refused:
        verify_certificate(cast(x509.Certificate, ExtensionsUntouched(signature)), trust, now)
    assert refused.value.extra["reason"] == "signature_certificate"
    view = read_extensions(signature.tbs_certificate_bytes)
    assert view.other_name_types == set(PERSONAL_DATA)  # the type-ids, nothing of the values
    assert not any(PERSONAL_DATA[f"1.2.392.200149.8.5.5.{n}"] in repr(view) for n in (1, 4, 5))
