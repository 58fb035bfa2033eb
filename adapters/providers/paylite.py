"""`paylite`: a provider with its own API, mapped onto the one adapter contract.

PayLite speaks of members and top-ups, not accounts and credits: `memberNo` and `pin`, amounts
in yen (`amountYen`, points × `yen_per_point`), its own error codes, and an OAuth2
client-credentials token that expires. Its API:

- `POST /oauth/token` (HTTP Basic client ID and secret, `grant_type=client_credentials`) →
  `{access_token, token_type, expires_in}`
- `POST /v2/members/lookup` `{memberNo, pin}` → `{memberState: ACTIVE|CLOSED|SUSPENDED}`;
  404 `PL-1404` unknown member, 403 `PL-1403` wrong pin
- `POST /v2/topups` header `X-PayLite-Request-No`, body `{requestNo, memberNo, amountYen,
  campaignRef, lgCode}` → 201 (or 200 when repeated) `{topupId, state: COMPLETED}`
- `GET /v2/topups/{requestNo}` → `{state: COMPLETED|FAILED|PROCESSING, topupId, failureCode}`;
  404 `PL-3004`

Errors are `{errorCode, message}`. The token is held per adapter (one per provider), refreshed
shortly before it expires and once more when PayLite answers `PL-0401` anyway.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from adapters.providers.contract import (
    AccountCheck,
    CreditOutcome,
    CreditRequest,
    CreditStatus,
    TransientProviderError,
    bounded_reference,
    classify_http_failure,
)
from adapters.tls import ClientTls

# PayLite error codes that mean "this member cannot receive points": a rejection, not an error.
REJECTING_CODES = {
    "PL-2001": "account_closed",
    "PL-2002": "account_unknown",
    "PL-2003": "account_suspended",
}
TOKEN_EXPIRED = "PL-0401"
UNKNOWN_TENANT = "PL-0404"  # a wrong base URL or provider: not "no such top-up"
MEMBER_STATES = {"ACTIVE": "active", "CLOSED": "closed", "SUSPENDED": "closed"}
TOKEN_SKEW_S = 5.0


@dataclass(frozen=True)
class PayLiteConfig:
    base_url: str
    client_id: str
    client_secret: str
    yen_per_point: int = 1
    timeout_s: float = 10.0
    tls: ClientTls = field(default_factory=ClientTls)  # CA bundle, client certificate (mTLS)


@dataclass
class _Token:
    value: str
    renew_at: float  # time.monotonic(), a little before it expires


class PayLiteAdapter:
    def __init__(self, provider_id: str, config: PayLiteConfig) -> None:
        self.provider_id = provider_id
        self.config = config
        self._http = httpx.AsyncClient(
            base_url=config.base_url.rstrip("/"),
            timeout=config.timeout_s,
            verify=config.tls.ssl_context(),
        )
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self.tokens_fetched = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    # ----- the token -----------------------------------------------------------------------

    async def _access_token(self, *, stale: str | None = None) -> str:
        """A valid token; `stale` is one PayLite refused, to be replaced unless already done."""
        async with self._token_lock:
            token = self._token
            if token is not None and token.value != stale and time.monotonic() < token.renew_at:
                return token.value
            response = await self._call(
                "POST",
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(self.config.client_id, self.config.client_secret),
            )
            if response.status_code != 200:
                raise self._failure(response)
            body = self._json(response)
            value, expires_in = body.get("access_token"), body.get("expires_in", 60)
            if not isinstance(value, str) or not isinstance(expires_in, int | float):
                raise TransientProviderError(
                    "PayLite token response without a token", reason="no_token"
                )
            lifetime = float(expires_in)
            # Renewed a little early: the smaller of five seconds and a tenth of its life.
            self._token = _Token(
                value, time.monotonic() + lifetime - min(TOKEN_SKEW_S, lifetime / 10)
            )
            self.tokens_fetched += 1
            return value

    async def _authorized(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One call with the bearer token; a token PayLite calls expired is refreshed once."""
        token = await self._access_token()
        for attempt in range(2):
            response = await self._call(
                method,
                path,
                json=json,
                headers={**(headers or {}), "authorization": f"Bearer {token}"},
            )
            if response.status_code != 401 or self._code(response) != TOKEN_EXPIRED or attempt:
                return response
            token = await self._access_token(stale=token)
        raise AssertionError("unreachable")

    # ----- HTTP ----------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, object] | None = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> httpx.Response:
        try:
            return await self._http.request(
                method, path, json=json, data=data, headers=headers, auth=auth
            )
        except httpx.TimeoutException as exc:
            raise TransientProviderError(
                f"time-out calling PayLite {path}: {exc!r}", reason="timeout"
            ) from exc
        except httpx.TransportError as exc:
            raise TransientProviderError(
                f"connection to PayLite failed ({path}): {exc!r}", reason="connection"
            ) from exc

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, object]:
        try:
            data = response.json()
        except ValueError as exc:
            raise TransientProviderError(
                f"PayLite answered {response.status_code} without JSON: {response.text[:200]}",
                reason="invalid_json",
                http_status=response.status_code,
            ) from exc
        if not isinstance(data, dict):
            raise TransientProviderError(
                "PayLite answered with JSON that is not an object", reason="not_an_object"
            )
        return data

    @staticmethod
    def _code(response: httpx.Response) -> str | None:
        try:
            data = response.json()
        except ValueError:
            return None
        code = data.get("errorCode") if isinstance(data, dict) else None
        return code if isinstance(code, str) else None

    def _failure(self, response: httpx.Response) -> Exception:
        code = self._code(response)
        return classify_http_failure(
            response.status_code,
            response.headers.get("retry-after"),
            f"PayLite {code or 'no errorCode'}: {response.text}",
            adapter_style="paylite",
            provider_code=code,
        )

    # ----- the contract --------------------------------------------------------------------

    async def verify_account(self, account_id: str, security_code: str) -> AccountCheck:
        response = await self._authorized(
            "POST", "/v2/members/lookup", json={"memberNo": account_id, "pin": security_code}
        )
        if response.status_code == 404 and self._code(response) != UNKNOWN_TENANT:
            return AccountCheck(valid=False, status="unknown")
        if response.status_code == 403:
            return AccountCheck(valid=False, status="active")  # the member exists; wrong pin
        if response.status_code != 200:
            raise self._failure(response)
        state = MEMBER_STATES.get(str(self._json(response).get("memberState")), "unknown")
        return AccountCheck(valid=state == "active", status=state)

    async def credit(self, request: CreditRequest) -> CreditOutcome:
        response = await self._authorized(
            "POST",
            "/v2/topups",
            json={
                "requestNo": request.receipt_id,
                "memberNo": request.account_id,
                "amountYen": request.points * self.config.yen_per_point,
                "campaignRef": request.measure_id,
                "lgCode": request.municipality_code,
            },
            headers={"x-paylite-request-no": request.receipt_id},
        )
        if response.status_code in (200, 201):
            data = self._json(response)
            if data.get("state") == "COMPLETED":
                return CreditOutcome(
                    status="credited", provider_reference=bounded_reference(_opt(data, "topupId"))
                )
            return CreditOutcome(status="accepted")
        code = self._code(response)
        if code in REJECTING_CODES:
            return CreditOutcome(status="rejected", reason=REJECTING_CODES[code])
        raise self._failure(response)

    async def credit_status(self, receipt_id: str) -> CreditStatus:
        response = await self._authorized("GET", f"/v2/topups/{receipt_id}")
        if response.status_code == 404 and self._code(response) != UNKNOWN_TENANT:
            return CreditStatus(status="not_found")
        if response.status_code != 200:
            raise self._failure(response)
        data = self._json(response)
        state = data.get("state")
        if state == "COMPLETED":
            return CreditStatus(
                status="credited", provider_reference=bounded_reference(_opt(data, "topupId"))
            )
        if state == "FAILED":
            failure = _opt(data, "failureCode")
            return CreditStatus(
                status="rejected", reason=REJECTING_CODES.get(failure or "", failure)
            )
        return CreditStatus(status="pending")


def _opt(data: dict[str, object], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value)
