"""One test per login refusal of SPEC §5: the exact `code`, and no MyKey ID, certificate binding
or session created by the refused attempt."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from simulators.jpki import TestCA
from tests.identity.conftest import IdentityHub, proof_body


async def refused(hub: IdentityHub, body: dict[str, str], status: int, code: str) -> Any:
    before = await hub.counts()
    response = await hub.http.post("/v1/auth/sessions", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code, problem
    assert await hub.counts() == before
    return response


async def test_invalid_signature(ihub: IdentityHub) -> None:
    card = ihub.card()
    challenge_id, _ = await ihub.challenge()
    body = proof_body(card, challenge_id, card.sign(b"some other nonce", card.pin))
    await refused(ihub, body, 401, "invalid_signature")


async def test_challenge_expired(ihub: IdentityHub) -> None:
    card = ihub.card()
    challenge_id, nonce = await ihub.challenge()
    body = proof_body(card, challenge_id, card.sign(nonce, card.pin))
    await ihub.advance(minutes=5)
    await refused(ihub, body, 401, "challenge_expired")


async def test_challenge_used(ihub: IdentityHub) -> None:
    card = ihub.card()
    challenge_id, nonce = await ihub.challenge()
    await refused(
        ihub,
        proof_body(card, challenge_id, card.sign(b"wrong", card.pin)),
        401,
        "invalid_signature",
    )
    # The refused attempt spent the challenge: even the right signature cannot use it now.
    await refused(
        ihub, proof_body(card, challenge_id, card.sign(nonce, card.pin)), 401, "challenge_used"
    )


async def test_a_successful_login_cannot_be_replayed(ihub: IdentityHub) -> None:
    body = await ihub.signed(ihub.card())
    assert (await ihub.http.post("/v1/auth/sessions", json=body)).status_code == 201
    await refused(ihub, body, 401, "challenge_used")


async def test_untrusted_certificate_from_a_forged_ca_with_the_same_name(ihub: IdentityHub) -> None:
    forged = TestCA.create()
    assert forged.certificate.subject == ihub.ca.certificate.subject
    card = ihub.card(ca=forged)
    await refused(ihub, await ihub.signed(card), 401, "untrusted_certificate")


async def test_certificate_expired(ihub: IdentityHub) -> None:
    card = ihub.card(age=timedelta(days=10), validity=timedelta(days=5))
    await refused(ihub, await ihub.signed(card), 401, "certificate_expired")


async def test_certificate_revoked(ihub: IdentityHub) -> None:
    card = ihub.card()
    ihub.ca.revoke(card.serial_hex)
    await ihub.refresh_crls()
    await refused(ihub, await ihub.signed(card), 401, "certificate_revoked")


async def test_certificate_not_yet_active_tells_when_to_retry(ihub: IdentityHub) -> None:
    card = ihub.card(age=timedelta(minutes=30))
    response = await refused(ihub, await ihub.signed(card), 401, "certificate_not_yet_active")
    active_from = card.certificate.not_valid_before_utc + timedelta(hours=1)
    assert response.json()["retry_at"] == active_from.isoformat()
    assert response.headers["retry-after"] == str(30 * 60)


async def test_mykey_suspended(ihub: IdentityHub) -> None:
    card = ihub.card()
    first = await ihub.login(card)
    assert first.status_code == 201, first.text
    mykey_id = first.json()["mykey_id"]
    suspended = await ihub.operator_action(mykey_id, "suspend", "不正利用の疑い")
    assert suspended.status_code == 200, suspended.text
    await refused(ihub, await ihub.signed(card), 403, "mykey_suspended")


async def test_mykey_revoked(ihub: IdentityHub) -> None:
    card = ihub.card()
    first = await ihub.login(card)
    assert first.status_code == 201, first.text
    mykey_id = first.json()["mykey_id"]
    revoked = await ihub.operator_action(mykey_id, "revoke", "本人からの失効申請")
    assert revoked.status_code == 200, revoked.text
    await refused(ihub, await ihub.signed(card), 403, "mykey_revoked")


async def test_link_service_unavailable(ihub: IdentityHub) -> None:
    card = ihub.card()  # a certificate the hub has never seen: the linking service must answer
    ihub.jpki.state.down = True
    try:
        await refused(ihub, await ihub.signed(card), 503, "link_service_unavailable")
    finally:
        ihub.jpki.state.down = False
    assert (await ihub.login(card)).status_code == 201
