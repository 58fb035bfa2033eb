"""PayLite, a simulated provider with an API of its own (see `adapters/providers/paylite.py`):
members and top-ups in yen, `PL-` error codes, and OAuth2 client-credentials tokens that
expire after `token_ttl_s` (or at once, by `POST /p/{provider_id}/admin/tokens/revoke`)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from simulators.faults import after_apply, before_call
from simulators.providers import Credit, SimProvider

FAILURE_CODES = {"account_closed": "PL-2001", "account_unknown": "PL-2002"}


def _error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"errorCode": code, "message": message}, status_code=status, headers=headers
    )


def _fault_body(kind: str) -> dict[str, Any]:
    if kind == "rate_limited":
        return {"errorCode": "PL-0429", "message": "too many requests"}
    return {"errorCode": "PL-0503", "message": "under maintenance"}


def _client_of(request: Request, form: dict[str, str]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return user, password
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
    return form.get("client_id", ""), form.get("client_secret", "")


def _topup(entry: Credit) -> dict[str, Any]:
    state = "COMPLETED" if entry.status == "credited" else "FAILED"
    return {
        "topupId": entry.provider_reference,
        "requestNo": entry.receipt_id,
        "state": state,
        "failureCode": FAILURE_CODES.get(entry.reason or "") if state == "FAILED" else None,
    }


def paylite_routes(providers: dict[str, SimProvider]) -> APIRouter:
    router = APIRouter(prefix="/paylite/{provider_id}")

    def authorized(provider_id: str, request: Request) -> SimProvider | JSONResponse:
        provider = providers.get(provider_id)
        if provider is None or provider.config.mode != "paylite":
            return _error(404, "PL-0404", "unknown tenant")
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        expires = provider.tokens.get(token)
        if expires is None or asyncio.get_running_loop().time() >= expires:
            provider.count("expired_token_refused")
            return _error(401, "PL-0401", "access token expired or invalid")
        return provider

    @router.post("/oauth/token")
    async def token(provider_id: str, request: Request) -> Any:
        provider = providers.get(provider_id)
        if provider is None or provider.config.mode != "paylite":
            return _error(404, "PL-0404", "unknown tenant")
        form = {
            k: v[0] for k, v in parse_qs((await request.body()).decode(errors="replace")).items()
        }
        client_id, client_secret = _client_of(request, form)
        config = provider.config
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if client_id != config.client_id or not secrets.compare_digest(
            client_secret.encode(), config.client_secret.encode()
        ):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        value = "plt_" + secrets.token_urlsafe(24)
        provider.tokens[value] = asyncio.get_running_loop().time() + config.token_ttl_s
        provider.count("tokens_issued")
        return {"access_token": value, "token_type": "Bearer", "expires_in": config.token_ttl_s}

    @router.post("/v2/members/lookup")
    async def lookup(provider_id: str, request: Request) -> Any:
        checked = authorized(provider_id, request)
        if isinstance(checked, JSONResponse):
            return checked
        refused = await before_call(checked, _fault_body)
        if refused is not None:
            return refused
        data = await request.json()
        member = str(data.get("memberNo", ""))
        status = checked.account_status(member)
        if status == "unknown":
            return _error(404, "PL-1404", "no such member")
        if status == "active" and not checked.security_code_ok(member, str(data.get("pin", ""))):
            return _error(403, "PL-1403", "pin does not match")
        return {"memberNo": member, "memberState": "ACTIVE" if status == "active" else "CLOSED"}

    @router.post("/v2/topups")
    async def topup(provider_id: str, request: Request) -> Any:
        checked = authorized(provider_id, request)
        if isinstance(checked, JSONResponse):
            return checked
        provider = checked
        refused = await before_call(provider, _fault_body)
        if refused is not None:
            return refused
        body = await request.body()
        data = json.loads(body or b"{}")
        request_no = request.headers.get("x-paylite-request-no", "")
        amount = data.get("amountYen")
        if not request_no or request_no != data.get("requestNo"):
            return _error(400, "PL-1000", "X-PayLite-Request-No must equal requestNo")
        if not isinstance(amount, int) or amount <= 0:
            return _error(400, "PL-1000", "amountYen must be a positive integer")
        async with provider.lock:
            first = request_no not in provider.credits
            entry = provider.apply(
                request_no, str(data.get("memberNo", "")), amount, hashlib.sha256(body).hexdigest()
            )
        if entry is None:
            return _error(409, "PL-3009", "requestNo was used with another request")
        if first:
            await after_apply(provider)
        if entry.status != "credited":
            code = FAILURE_CODES.get(entry.reason or "", "PL-2002")
            return _error(422, code, f"member cannot receive top-ups ({entry.reason})")
        return JSONResponse(_topup(entry), status_code=201 if first else 200)

    @router.get("/v2/topups/{request_no}")
    async def topup_status(provider_id: str, request_no: str, request: Request) -> Any:
        checked = authorized(provider_id, request)
        if isinstance(checked, JSONResponse):
            return checked
        entry = checked.credits.get(request_no)
        if entry is None:
            return _error(404, "PL-3004", "no such top-up")
        return _topup(entry)

    return router
