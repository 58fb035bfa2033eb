"""Login limits with the default settings: many residents behind one public address (a mobile
carrier's) all log in, while one card, one challenge or one MyKey ID used in a loop is slowed
down with 429 `rate_limited`.

The limiter's clock is held still for these tests (the in-memory windows of `api/ratelimit.py`
read the time through that module), so every request falls in the same minute however slowly
the machine runs: "1,000 within a minute" holds literally, not only when the run is fast.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from api import ratelimit
from hub.settings import Settings
from simulators.jpki import TestCA
from tests.identity.conftest import IdentityHub, proof_body

RESIDENTS = 1000
DEFAULTS = Settings()


@pytest.fixture
def one_minute(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every request counted by the limiter happens at the same instant."""
    frozen = time.time()
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: frozen))
    yield


class Resident:
    """A card of its own (certificate serial), sharing one of a few keys with other residents
    (a key per card would cost minutes to generate; the hub tells cards apart by serial)."""

    def __init__(self, ca: TestCA, key: rsa.RSAPrivateKey, issued_at: datetime) -> None:
        self.key = key
        certificate = ca.issue_certificate(key.public_key(), issued_at=issued_at)
        self.der = certificate.public_bytes(serialization.Encoding.DER)

    async def login(self, http: httpx.AsyncClient) -> httpx.Response:
        challenge = await http.post("/v1/auth/challenges")
        if challenge.status_code != 201:
            return challenge
        body = challenge.json()
        signature = self.key.sign(
            base64.b64decode(body["nonce"]), padding.PKCS1v15(), hashes.SHA256()
        )
        return await http.post(
            "/v1/auth/sessions",
            json={
                "challenge_id": body["challenge_id"],
                "certificate": base64.b64encode(self.der).decode(),
                "signature": base64.b64encode(signature).decode(),
            },
        )


def test_the_defaults_are_the_documented_figures() -> None:
    assert DEFAULTS.rate_limit_login == "6000/minute"
    assert DEFAULTS.rate_limit_login_card == "10/minute"
    assert DEFAULTS.rate_limit_login_challenge == "3/minute"
    assert DEFAULTS.rate_limit_login_mykey == "20/minute"


async def test_a_thousand_residents_behind_one_address_log_in_within_a_minute(
    ihub: IdentityHub, one_minute: None
) -> None:
    for name in ("rate_limit_login", "rate_limit_login_card", "rate_limit_login_challenge"):
        assert getattr(ihub.settings, name) == getattr(DEFAULTS, name)  # nothing loosened
    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(4)]
    issued_at = ihub.clock() - timedelta(hours=2)
    residents = [Resident(ihub.ca, keys[n % len(keys)], issued_at) for n in range(RESIDENTS)]
    before = await ihub.counts()
    gate = asyncio.Semaphore(16)

    async def one(resident: Resident) -> int:
        async with gate:
            return (await resident.login(ihub.http)).status_code

    statuses = Counter(await asyncio.gather(*(one(r) for r in residents)))
    assert statuses == {201: RESIDENTS}  # all from 127.0.0.1; not one 429
    assert (await ihub.counts()).mykeys == before.mykeys + RESIDENTS


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_one_card_logging_in_in_a_loop_is_limited(
    ihub: IdentityHub, one_minute: None
) -> None:
    card = ihub.card()
    allowed = int(DEFAULTS.rate_limit_login_card.split("/")[0])
    answers = [await ihub.login(card) for _ in range(allowed)]
    assert [a.status_code for a in answers] == [201] * allowed
    before = await ihub.counts()
    assert_limited(await ihub.login(card))
    assert await ihub.counts() == before  # no session for the refused attempt
    assert (await ihub.login(ihub.card())).status_code == 201  # another card is not held up


async def test_a_copy_of_a_certificate_cannot_use_up_its_cards_allowance(
    ihub: IdentityHub, one_minute: None
) -> None:
    """Without the card's key, attempts fail on the signature and count against nobody's card."""
    card, intruder = ihub.card(), ihub.card()
    for _ in range(int(DEFAULTS.rate_limit_login_card.split("/")[0]) + 2):
        challenge_id, nonce = await ihub.challenge()
        forged = proof_body(card, challenge_id, intruder.sign(nonce, intruder.pin))
        refused = await ihub.http.post("/v1/auth/sessions", json=forged)
        assert refused.json()["code"] == "invalid_signature"
    assert (await ihub.login(card)).status_code == 201


async def test_one_challenge_tried_again_and_again_is_limited(
    ihub: IdentityHub, one_minute: None
) -> None:
    card = ihub.card()
    challenge_id, nonce = await ihub.challenge()
    body = proof_body(card, challenge_id, card.sign(nonce, card.pin))
    first = await ihub.http.post("/v1/auth/sessions", json=body)
    assert first.status_code == 201
    allowed = int(DEFAULTS.rate_limit_login_challenge.split("/")[0])
    replays = [await ihub.http.post("/v1/auth/sessions", json=body) for _ in range(allowed)]
    assert [r.json()["code"] for r in replays[: allowed - 1]] == ["challenge_used"] * (allowed - 1)
    assert_limited(replays[-1])


async def test_one_mykey_logging_in_with_renewed_cards_is_limited(
    ihub: IdentityHub, one_minute: None
) -> None:
    """A MyKey ID reached through several certificates (renewals) has one allowance."""
    card = ihub.card()
    assert (await ihub.login(card)).status_code == 201
    renewed = [card]
    for _ in range(2):
        renewed.append(
            ihub.ca.renew_card(
                renewed[-1], issued_at=ihub.clock() - timedelta(hours=2), revoke_previous=False
            )
        )
    allowed = int(DEFAULTS.rate_limit_login_mykey.split("/")[0])  # after the first login
    statuses = [(await ihub.login(renewed[n % 3])).status_code for n in range(allowed + 1)]
    assert statuses == [201] * allowed + [429]
