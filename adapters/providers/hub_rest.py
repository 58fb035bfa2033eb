"""`hub_rest`: providers that implement the Hub Provider Protocol (SPEC §5).

The acknowledgement mode decides what `credit` does: `sync` and `webhook` call `POST /credits`
(a 200 is credited at once, a 202 waits for a signed webhook); `pull` calls nothing, because the
provider lists pending credit requests from the hub's provider API and acknowledges them there.
"""

from __future__ import annotations

import json
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
from adapters.signing import sign_headers
from adapters.tls import ClientTls


@dataclass(frozen=True)
class HubRestConfig:
    base_url: str
    signing_secret: str
    timeout_s: float = 10.0
    ack_mode: str = "sync"  # sync | webhook | pull
    tls: ClientTls = field(default_factory=ClientTls)  # CA bundle, client certificate (mTLS)


class HubRestAdapter:
    """Signs each request with the provider's own secret; holds no state shared across providers."""

    def __init__(self, provider_id: str, config: HubRestConfig) -> None:
        self.provider_id = provider_id
        self.config = config
        self._http = httpx.AsyncClient(
            base_url=config.base_url.rstrip("/"),
            timeout=config.timeout_s,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
            verify=config.tls.ssl_context(),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        payload: dict[str, object] | None = None,
        *,
        extra_headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body = json.dumps(payload, separators=(",", ":")).encode() if payload is not None else b""
        headers = {
            "content-type": "application/json",
            **sign_headers(self.config.signing_secret, body),
        }
        headers.update(extra_headers or {})
        try:
            return await self._http.request(method, path, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise TransientProviderError(
                f"time-out calling {path}: {exc!r}", reason="timeout"
            ) from exc
        except httpx.TransportError as exc:
            raise TransientProviderError(
                f"connection failed calling {path}: {exc!r}", reason="connection"
            ) from exc

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, object]:
        try:
            data = response.json()
        except ValueError as exc:
            raise TransientProviderError(
                f"provider answered {response.status_code} without JSON: {response.text[:200]}",
                reason="invalid_json",
                http_status=response.status_code,
            ) from exc
        if not isinstance(data, dict):
            raise TransientProviderError(
                "provider answered with a JSON value that is not an object",
                reason="not_an_object",
            )
        return data

    def _failure(self, response: httpx.Response) -> Exception:
        return classify_http_failure(
            response.status_code, response.headers.get("retry-after"), response.text
        )

    async def verify_account(self, account_id: str, security_code: str) -> AccountCheck:
        response = await self._send(
            "POST", "/accounts/verify", {"account_id": account_id, "security_code": security_code}
        )
        if response.status_code != 200:
            raise self._failure(response)
        data = self._json(response)
        return AccountCheck(
            valid=bool(data.get("valid")), status=str(data.get("status", "unknown"))
        )

    async def credit(self, request: CreditRequest) -> CreditOutcome:
        if self.config.ack_mode == "pull":  # the provider fetches it from the hub
            return CreditOutcome(status="accepted")
        payload: dict[str, object] = {
            "receipt_id": request.receipt_id,
            "account_id": request.account_id,
            "points": request.points,
            "measure_id": request.measure_id,
            "municipality_code": request.municipality_code,
        }
        response = await self._send(
            "POST", "/credits", payload, extra_headers={"idempotency-key": request.receipt_id}
        )
        if response.status_code == 200:
            data = self._json(response)
            return CreditOutcome(status="credited", provider_reference=_reference(data))
        if response.status_code == 202:
            return CreditOutcome(status="accepted")
        if response.status_code == 422:
            data = self._json(response)
            if data.get("status") == "rejected":
                return CreditOutcome(status="rejected", reason=_opt(data, "reason") or "rejected")
        raise self._failure(response)

    async def credit_status(self, receipt_id: str) -> CreditStatus:
        response = await self._send("GET", f"/credits/{receipt_id}")
        if response.status_code == 404:
            return CreditStatus(status="not_found")
        if response.status_code != 200:
            raise self._failure(response)
        data = self._json(response)
        status = str(data.get("status", "pending"))
        if status not in {"credited", "rejected", "pending", "not_found"}:
            raise TransientProviderError(
                f"unknown credit status {status[:80]!r}", reason="unknown_status"
            )
        return CreditStatus(
            status=status,
            provider_reference=_reference(data),
            reason=_opt(data, "reason"),
        )


def _reference(data: dict[str, object]) -> str | None:
    """The provider's reference, bounded to the length the hub stores."""
    return bounded_reference(_opt(data, "provider_reference"))


def _opt(data: dict[str, object], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value)
