"""The Hub Provider Protocol as simulated providers speak it (SPEC §5), under `/p/{provider_id}`:
every request signed by the hub with the provider's secret, credits idempotent by key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from standardwebhooks.webhooks import Webhook

from adapters.signing import WebhookVerificationError, verify_signed
from simulators.faults import after_apply, before_call, status_fault
from simulators.providers import Credit, SimProvider, queue_webhook


def _error(kind: str) -> dict[str, Any]:
    return {"error": kind}


def credit_response(provider: SimProvider, entry: Credit, *, first: bool) -> JSONResponse:
    """Sync: the answer now. Webhook and pull: 202, the answer later (a webhook, the first
    time only; pull providers acknowledge through the hub's API)."""
    mode = provider.config.mode
    if mode == "webhook":
        if first:
            if entry.status == "credited":
                data = {
                    "receipt_id": entry.receipt_id,
                    "provider_reference": entry.provider_reference,
                }
                queue_webhook(provider, "credit.completed", data)
            else:
                data = {"receipt_id": entry.receipt_id, "reason": entry.reason}
                queue_webhook(provider, "credit.rejected", data)
        return JSONResponse({"status": "accepted"}, status_code=202)
    if entry.status == "rejected":
        if provider.broken("rejected_as_error"):
            return JSONResponse({"error": "account closed"}, status_code=400)
        return JSONResponse({"status": "rejected", "reason": entry.reason}, status_code=422)
    if mode == "sync":
        answer = {"status": "credited", "provider_reference": entry.provider_reference}
        if provider.broken("credited_without_reference"):
            del answer["provider_reference"]
        return JSONResponse(answer, status_code=200)
    return JSONResponse({"status": "accepted"}, status_code=202)


def check_signature(provider: SimProvider, body: bytes, headers: Mapping[str, str]) -> None:
    """Standard Webhooks verification of the hub's request against this provider's secret (and
    the next one during a rotation), unless a protocol fault says the provider gets it wrong."""
    config = provider.config
    secrets = [config.signing_secret]
    if config.next_signing_secret and not provider.broken("single_signing_secret"):
        secrets.append(config.next_signing_secret)
    if provider.broken("signature_unchecked"):
        return
    if provider.broken("signature_optional") and "webhook-signature" not in headers:
        return
    if provider.broken("signature_ignores_timestamp"):
        verify_ignoring_time(secrets, body, headers)
        return
    verify_signed(secrets, body, headers)


def verify_ignoring_time(secrets: list[str], body: bytes, headers: Mapping[str, str]) -> None:
    """The HMAC checked, the timestamp's age not: what a provider does that replays get past."""
    try:
        message_id, stamp = headers["webhook-id"], int(headers["webhook-timestamp"])
        sent = headers["webhook-signature"].split()
    except (KeyError, ValueError) as exc:
        raise WebhookVerificationError("missing or malformed signature headers") from exc
    at = datetime.fromtimestamp(stamp, UTC)
    if not any(Webhook(s).sign(message_id, at, body.decode()) in sent for s in secrets):
        raise WebhookVerificationError("no matching signature")


def hub_protocol_routes(providers: dict[str, SimProvider]) -> APIRouter:
    router = APIRouter(prefix="/p/{provider_id}")

    async def verified(
        provider_id: str, request: Request
    ) -> tuple[SimProvider, bytes] | JSONResponse:
        provider = providers.get(provider_id)
        if provider is None:
            return JSONResponse({"error": "unknown provider"}, status_code=404)
        body = await request.body()
        try:
            check_signature(provider, body, request.headers)
        except (WebhookVerificationError, ValueError) as exc:
            return JSONResponse({"error": f"bad signature: {exc}"}, status_code=401)
        refused = await before_call(provider, _error)
        return refused if refused is not None else (provider, body)

    @router.post("/accounts/verify")
    async def verify_account(provider_id: str, request: Request) -> Any:
        checked = await verified(provider_id, request)
        if isinstance(checked, JSONResponse):
            return checked
        provider, body = checked
        data = json.loads(body or b"{}")
        account_id = str(data.get("account_id", ""))
        status = provider.account_status(account_id)
        valid = status == "active" and (
            provider.broken("verify_ignores_security_code")
            or provider.security_code_ok(account_id, str(data.get("security_code", "")))
        )
        return {"valid": valid, "status": status}

    @router.post("/credits")
    async def credit(provider_id: str, request: Request) -> Any:
        checked = await verified(provider_id, request)
        if isinstance(checked, JSONResponse):
            return checked
        provider, body = checked
        key = request.headers.get("idempotency-key", "")
        data = json.loads(body or b"{}")
        if not key or key != data.get("receipt_id"):
            return JSONResponse({"error": "Idempotency-Key must equal receipt_id"}, status_code=400)
        async with provider.lock:
            first = key not in provider.credits
            entry = provider.apply(
                key,
                str(data.get("account_id", "")),
                int(data.get("points", 0)),
                hashlib.sha256(body).hexdigest(),
            )
        if entry is None:
            return JSONResponse(
                {"error": "idempotency key reused with another body"}, status_code=409
            )
        if first:
            await after_apply(provider)
        return credit_response(provider, entry, first=first)

    @router.get("/credits/{receipt_id}")
    async def credit_status(provider_id: str, receipt_id: str, request: Request) -> Any:
        checked = await verified(provider_id, request)
        if isinstance(checked, JSONResponse):
            return checked
        provider, _ = checked
        faulty = status_fault(provider, _error)
        if faulty is not None:
            return faulty
        entry = provider.credits.get(receipt_id)
        if entry is None:
            return {"status": "not_found"}
        status = entry.status
        if status == "credited" and provider.broken("status_own_words"):
            status = "done"
        return {
            "status": status,
            "provider_reference": entry.provider_reference,
            "reason": entry.reason,
        }

    return router
