"""What the Mynapoint app does for a resident: card login, card proofs, and the resident API.

Used by `mph demo`, the end-to-end tests and the benchmarks, so all three exercise the same path.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from simulators.jpki import VirtualCard


class ResidentApp:
    def __init__(self, http: httpx.AsyncClient, card: VirtualCard, pin: str | None = None) -> None:
        self.http = http
        self.card = card
        self.pin = pin if pin is not None else card.pin
        self.token: str | None = None
        self.mykey_id: str | None = None

    @property
    def auth(self) -> dict[str, str]:
        assert self.token, "log in first"
        return {"authorization": f"Bearer {self.token}"}

    async def signed_challenge(self) -> dict[str, str]:
        """A fresh challenge signed by the card: a login body and a card proof alike."""
        response = await self.http.post("/v1/auth/challenges")
        response.raise_for_status()
        return self._signed(response.json())

    def _signed(self, challenge: dict[str, Any]) -> dict[str, str]:
        signature = self.card.sign(base64.b64decode(challenge["nonce"]), self.pin)
        return {
            "challenge_id": challenge["challenge_id"],
            "certificate": base64.b64encode(self.card.certificate_der).decode(),
            "signature": base64.b64encode(signature).decode(),
        }

    async def login(self) -> httpx.Response:
        """Sign in; a challenge refused (shed, rate-limited) is the answer, for the app to try
        again after its Retry-After."""
        challenge = await self.http.post("/v1/auth/challenges")
        if challenge.is_error:
            return challenge
        response = await self.http.post("/v1/auth/sessions", json=self._signed(challenge.json()))
        if response.status_code == 201:
            body = response.json()
            self.token = body["token"]
            self.mykey_id = body["mykey_id"]
        return response

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params or None, headers=self.auth)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.http.post(path, json=body, headers=self.auth)

    async def apply(self, measure_id: str, registration_id: str | None = None) -> httpx.Response:
        body = {"payment_service_registration_id": registration_id} if registration_id else {}
        return await self.post(f"/v1/measures/{measure_id}/applications", body)

    async def register_service(
        self, payment_service_id: str, account_id: str, security_code: str = "1234"
    ) -> httpx.Response:
        return await self.post(
            "/v1/me/payment-services",
            {
                "payment_service_id": payment_service_id,
                "account_id": account_id,
                "security_code": security_code,
                "card_proof": await self.signed_challenge(),
            },
        )

    async def request_receipt(self, grant_ids: list[str], registration_id: str) -> httpx.Response:
        return await self.post(
            "/v1/me/receipts",
            {
                "grant_ids": grant_ids,
                "payment_service_registration_id": registration_id,
                "card_proof": await self.signed_challenge(),
            },
        )

    async def points(self) -> dict[str, Any]:
        response = await self.get("/v1/me/points")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result
