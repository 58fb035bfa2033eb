from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr, ValidationError

from hub.settings import Environment, Settings


def test_development_defaults_work() -> None:
    settings = Settings(env=Environment.DEVELOPMENT)
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")


def test_production_refuses_default_secrets_and_test_hierarchies() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(env=Environment.PRODUCTION)
    message = str(caught.value)
    assert "HUB_OPERATOR_BOOTSTRAP_KEY is the development default" in message
    assert "HUB_JPKI_ALLOW_TEST_HIERARCHY must be false" in message


def test_production_accepts_real_configuration(tmp_path) -> None:
    root = tmp_path / "root.pem"
    root.write_text("")
    settings = Settings(
        env=Environment.PRODUCTION,
        operator_bootstrap_key=SecretStr("a-long-random-operator-key"),
        token_secret=SecretStr("a-long-random-token-secret"),
        qr_signing_key=SecretStr("a-long-random-qr-signing-key"),
        console_session_secret=SecretStr("a-long-random-console-session-secret"),
        audit_hmac_key=SecretStr("a-long-random-audit-hmac-key"),
        payload_keys=SecretStr("k2:" + base64.b64encode(bytes(range(32))).decode()),
        jpki_allow_test_hierarchy=False,
        jpki_trust_anchors=[root],
        jpki_crl_sources=["https://jpki.example/crl/user-authentication.crl"],
        jpki_link_service_url="https://jpki.example/link",
        database_url="postgresql+psycopg://hub@db/hub",
    )
    assert settings.is_production


def test_lists_come_comma_separated_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("HUB_JPKI_TRUST_ANCHORS", "a.pem, b.pem")
    assert [p.name for p in Settings().jpki_trust_anchors] == ["a.pem", "b.pem"]
