"""Time limits crossed exactly, with the hub's injectable clock: the one-hour activation of a new
certificate (FAQ), the five-minute challenge, the session lifetime."""

from __future__ import annotations

from datetime import timedelta

from storage.identity import token_hash
from storage.models.identity import ResidentSession
from tests.identity.conftest import IdentityHub, proof_body


async def test_a_new_certificate_is_refused_at_59_59_and_accepted_at_60_00(
    ihub: IdentityHub,
) -> None:
    card = ihub.card(age=timedelta(0))
    issued = card.certificate.not_valid_before_utc
    assert issued == ihub.clock()
    await ihub.advance(minutes=59, seconds=59)
    early = await ihub.login(card)
    assert early.status_code == 401
    assert early.json()["code"] == "certificate_not_yet_active"
    assert early.json()["retry_at"] == (issued + timedelta(hours=1)).isoformat()
    assert early.headers["retry-after"] == "1"
    await ihub.advance(seconds=1)
    on_time = await ihub.login(card)
    assert on_time.status_code == 201, on_time.text
    assert on_time.json()["mykey_issued"] is True


async def test_a_challenge_works_at_4_59_and_has_expired_at_5_00(ihub: IdentityHub) -> None:
    card = ihub.card()
    challenge_id, nonce = await ihub.challenge()
    await ihub.advance(minutes=4, seconds=59)
    response = await ihub.http.post(
        "/v1/auth/sessions", json=proof_body(card, challenge_id, card.sign(nonce, card.pin))
    )
    assert response.status_code == 201, response.text

    challenge_id, nonce = await ihub.challenge()
    await ihub.advance(minutes=5)
    response = await ihub.http.post(
        "/v1/auth/sessions", json=proof_body(card, challenge_id, card.sign(nonce, card.pin))
    )
    assert response.status_code == 401
    assert response.json()["code"] == "challenge_expired"


async def test_sessions_expire_and_can_be_ended(ihub: IdentityHub) -> None:
    card = ihub.card()
    login = await ihub.login(card)
    assert login.status_code == 201, login.text
    auth = {"authorization": f"Bearer {login.json()['token']}"}
    assert (await ihub.http.get("/v1/me", headers=auth)).status_code == 200
    ttl = ihub.settings.session_ttl_s
    await ihub.advance(seconds=ttl - 1)
    assert (await ihub.http.get("/v1/me", headers=auth)).status_code == 200
    await ihub.advance(seconds=1)
    expired = await ihub.http.get("/v1/me", headers=auth)
    assert expired.status_code == 401
    assert expired.json()["code"] == "unauthenticated"

    again = await ihub.login(card)
    auth = {"authorization": f"Bearer {again.json()['token']}"}
    assert (await ihub.http.delete("/v1/auth/sessions/current", headers=auth)).status_code == 204
    assert (await ihub.http.get("/v1/me", headers=auth)).status_code == 401


async def test_a_session_token_is_stored_only_as_its_hash(ihub: IdentityHub) -> None:
    login = await ihub.login(ihub.card())
    token = login.json()["token"]
    async with ihub.ctx.sessions() as session:
        row = await session.get(ResidentSession, token_hash(token))
        assert row is not None
        assert token not in (row.token_hash, row.serial_hex, row.mykey_id)
