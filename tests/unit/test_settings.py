from __future__ import annotations

import base64
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from pydantic import SecretStr, ValidationError

from hub.settings import Environment, Settings
from simulators.jpki import TestCA
from tests.support.jlis_profile import USER_AUTHENTICATION_UNIT, make_root


def test_development_defaults_work() -> None:
    settings = Settings(env=Environment.DEVELOPMENT)
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")


def test_production_refuses_default_secrets_and_test_hierarchies() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(env=Environment.PRODUCTION)
    message = str(caught.value)
    assert "HUB_OPERATOR_BOOTSTRAP_KEY is the development default" in message
    assert "HUB_JPKI_ALLOW_TEST_HIERARCHY must be false" in message


def production(**overrides: object) -> Settings:
    values: dict[str, object] = dict(
        env=Environment.PRODUCTION,
        operator_bootstrap_key=SecretStr("a-long-random-operator-key"),
        token_secret=SecretStr("a-long-random-token-secret"),
        qr_signing_key=SecretStr("a-long-random-qr-signing-key"),
        console_session_secret=SecretStr("a-long-random-console-session-secret"),
        audit_hmac_key=SecretStr("a-long-random-audit-hmac-key"),
        payload_keys=SecretStr("k2:" + base64.b64encode(bytes(range(32))).decode()),
        jpki_allow_test_hierarchy=False,
        jpki_crl_sources=["https://jpki.example/crl/user-authentication.crl"],
        jpki_link_service_url="https://jpki.example/link",
        database_url="postgresql+psycopg://hub@db/hub",
    )
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]


def test_production_accepts_real_configuration(tmp_path) -> None:
    root = tmp_path / "root.pem"
    root.write_text(make_root(USER_AUTHENTICATION_UNIT, datetime.now(UTC)).pem)
    assert production(jpki_trust_anchors=[root]).is_production


def test_production_calls_the_linking_service_over_tls_only(tmp_path) -> None:
    root = tmp_path / "root.pem"
    root.write_text(make_root(USER_AUTHENTICATION_UNIT, datetime.now(UTC)).pem)
    with pytest.raises(ValidationError, match="HUB_JPKI_LINK_SERVICE_URL must be an https://"):
        production(jpki_trust_anchors=[root], jpki_link_service_url="http://jpki.example/link")


def test_production_refuses_a_test_root_among_its_anchors(tmp_path) -> None:
    real = tmp_path / "jlis.pem"
    real.write_text(make_root(USER_AUTHENTICATION_UNIT, datetime.now(UTC)).pem)
    mixed = tmp_path / "mixed.pem"
    mixed.write_text(real.read_text() + TestCA.create().certificate_pem)
    with pytest.raises(ValidationError) as caught:
        production(jpki_trust_anchors=[real, mixed])
    message = str(caught.value)
    assert f"HUB_JPKI_TRUST_ANCHORS {mixed} holds a root of the test JPKI hierarchy" in message
    assert str(real) not in message.replace(str(mixed), "")
    with pytest.raises(ValidationError, match="holds no readable PEM root"):
        production(jpki_trust_anchors=[tmp_path / "missing.pem"])


def test_the_accepted_policies_are_user_authentication_ones(monkeypatch) -> None:
    assert Settings().jpki_user_authentication_policies == ["1.2.392.200149.8.5.1.3.30"]
    monkeypatch.setenv(
        "HUB_JPKI_USER_AUTHENTICATION_POLICIES", "1.2.392.200149.8.5.1.3.30, 1.2.3.4"
    )
    assert Settings().jpki_user_authentication_policies == ["1.2.392.200149.8.5.1.3.30", "1.2.3.4"]
    for refused in ("1.2.392.200149.8.5.1.1.20", "1.2.392.200149.8.5.5.1", "not-an-oid", ""):
        monkeypatch.setenv("HUB_JPKI_USER_AUTHENTICATION_POLICIES", refused)
        with pytest.raises(ValidationError):
            Settings()


def test_lists_come_comma_separated_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("HUB_JPKI_TRUST_ANCHORS", "a.pem, b.pem")
    assert [p.name for p in Settings().jpki_trust_anchors] == ["a.pem", "b.pem"]


def test_tls_to_the_back_ends_when_configured(tmp_path) -> None:
    plain = Settings(database_url="postgresql://hub@db/hub")
    assert plain.effective_database_url == "postgresql://hub@db/hub"
    assert not plain.temporal_tls_enabled
    tls = Settings(
        database_url="postgresql://hub@db/hub",
        database_sslmode="verify-full",
        database_sslrootcert=tmp_path / "ca.pem",
        temporal_tls_ca=tmp_path / "ca.pem",
    )
    ca = quote(str(tmp_path / "ca.pem"), safe="")
    assert tls.effective_database_url == (
        f"postgresql://hub@db/hub?sslmode=verify-full&sslrootcert={ca}"
    )
    assert tls.temporal_tls_enabled
    root = tmp_path / "root.pem"
    root.write_text(make_root(USER_AUTHENTICATION_UNIT, datetime.now(UTC)).pem)
    with pytest.raises(ValidationError, match="HUB_DATABASE_SSLMODE must be verify-full"):
        production(jpki_trust_anchors=[root], database_sslmode="require")


def test_production_refuses_the_direct_orchestration(tmp_path) -> None:
    """`HUB_ORCHESTRATION=direct` is not durable: never in production; elsewhere it is allowed."""
    root = tmp_path / "root.pem"
    root.write_text(make_root(USER_AUTHENTICATION_UNIT, datetime.now(UTC)).pem)
    assert production(jpki_trust_anchors=[root]).orchestration == "temporal"
    with pytest.raises(ValidationError, match="HUB_ORCHESTRATION must be temporal"):
        production(jpki_trust_anchors=[root], orchestration="direct")
    assert Settings(env=Environment.DEVELOPMENT, orchestration="direct").orchestration == "direct"
    with pytest.raises(ValidationError):
        Settings(env=Environment.DEVELOPMENT, orchestration="elsewhere")
