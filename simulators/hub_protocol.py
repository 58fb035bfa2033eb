"""The Hub Provider Protocol as simulated providers speak it (SPEC §5), under `/p/{provider_id}`:
every request signed by the hub with the provider's secret, credits idempotent by key."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.signing import WebhookVerificationError, verify_signed
from simulators.faults import after_apply, before_call
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
        return JSONResponse({"status": "rejected", "reason": entry.reason}, status_code=422)
    if mode == "sync":
        return JSONResponse(
            {"status": "credited", "provider_reference": entry.provider_reference}, status_code=200
        )
    return JSONResponse({"status": "accepted"}, status_code=202)


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
            verify_signed([provider.config.signing_secret], body, request.headers)
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
        valid = status == "active" and provider.security_code_ok(
            account_id, str(data.get("security_code", ""))
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
        entry = provider.credits.get(receipt_id)
        if entry is None:
            return {"status": "not_found"}
        return {
            "status": entry.status,
            "provider_reference": entry.provider_reference,
            "reason": entry.reason,
        }

    return router
